// advtk train: train a zoo architecture, or fine-tune a TorchScript model, and save TorchScript.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/kill_point.h"
#include "cli/progress_bar.h"
#include "cli/ranks.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "defenses/adversarial_training.h"
#include "defenses/robust_validation.h"
#include "models/device.h"
#include "models/zoo.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

namespace advtk::cli {
namespace {

struct TrainCliOptions {
  bool force = false;      // --force: write beside another command's results
  std::string arch;        // a zoo architecture ...
  std::string model_path;  // ... or a TorchScript model to fine-tune
  std::string out = "runs/train";
  int64_t epochs = 10;
  std::string optimizer = "adam";
  std::optional<double> lr;
  double momentum = 0.9;
  double weight_decay = 0.0;
  std::string betas = "0.9,0.999";
  std::string schedule = "constant";
  double warmup = 0.0;
  double step_epochs = 0.0;
  double gamma = 0.1;
  double min_lr = 0.0;
  double clip_grad_norm = 0.0;
  bool resume = false;
  int64_t num_classes = 0;
  std::string val_data;  // default: the test split of --data, when it has one
  int64_t val_size = -1;
  // Adversarial training and robust validation.
  std::string adversarial;  // empty: clean training
  std::string eps;          // fractions allowed; with clean training: robust validation only
  std::string norm = "linf";
  std::optional<int64_t> attack_steps;
  std::string attack_step_size;
  double beta = 6.0;
  double mix = 1.0;
  double epsilon_warmup = 0.0;
  std::string keep;  // default: best-robust for adversarial training, last otherwise
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

std::string history_csv(const std::vector<EpochRecord>& history) {
  std::ostringstream out;
  out << "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,eps,val_robust_accuracy,"
         "val_fgsm_accuracy,seconds,stop_reason\n";
  const auto optional = [&](const std::optional<double>& v) {
    if (v) out << *v;
    out << ",";
  };
  for (const auto& r : history) {
    out << r.epoch << "," << r.lr << "," << r.train_loss << "," << r.train_accuracy << ",";
    optional(r.val_loss);
    optional(r.val_accuracy);
    optional(r.metric(kEpsMetric));
    optional(r.metric(kPgdAccuracyMetric));
    optional(r.metric(kFgsmAccuracyMetric));
    // The reason is prose with commas: quoted, as RFC 4180 (it has no double quotes).
    out << r.seconds << "," << (r.stop_reason.empty() ? "" : "\"" + r.stop_reason + "\"") << "\n";
  }
  return out.str();
}

KeepPolicy parse_keep(const std::string& keep) {
  if (keep == "best-robust" || keep == "best") return KeepPolicy::Best;
  if (keep == "last") return KeepPolicy::Last;
  throw Error("--keep: expected best-robust or last, got '" + keep + "'");
}

std::optional<Dataset> load_validation(const TrainCliOptions& o) {
  DataOptions v;
  if (!o.val_data.empty()) {
    v.spec = o.val_data;
  } else if (parse_data_source(o.data.spec, "test").has_splits()) {
    v.spec = o.data.spec;
  } else {
    spdlog::info("no validation data (give --val-data to validate each epoch)");
    return std::nullopt;
  }
  v.split = "test";
  // Robust validation attacks every example each epoch: 1,000 unless told otherwise.
  v.limit = o.val_size > 0 ? o.val_size : o.eps.empty() ? -1 : 1000;
  return load_data(v, o.common.seed);
}

void run_train(const TrainCliOptions& o) {
  apply_common(o.common);
  const Ranks ranks = join_ranks(o.out, "train", o.force);
  ADVTK_CHECK(o.arch.empty() != o.model_path.empty(),
              "give either --arch (train a zoo model) or --model (fine-tune a TorchScript file)");
  OptimizerSettings optimizer;
  optimizer.kind = parse_optimizer(o.optimizer);
  optimizer.lr = o.lr.value_or(default_learning_rate(optimizer.kind));
  optimizer.momentum = o.momentum;
  optimizer.weight_decay = o.weight_decay;
  const auto betas = parse_number_list(o.betas, "--betas");
  ADVTK_CHECK(betas.size() == 2, "--betas: expected two values b1,b2, got '", o.betas, "'");
  optimizer.beta1 = betas[0];
  optimizer.beta2 = betas[1];
  check_optimizer_settings(optimizer);
  const std::string checkpoint_dir = (std::filesystem::path(o.out) / "checkpoint").string();
  ADVTK_CHECK(!o.resume || checkpoint_exists(checkpoint_dir), "--resume: no checkpoint in ",
              checkpoint_dir, " (state.json missing)");
  const Dataset train_data = load_data(o.data, o.common.seed);
  const ModelOptions model_options =
      to_model_options(o.model, device_for_rank(o.common.device, ranks.env));
  const std::vector<int64_t> shape(train_data.images.sizes().begin() + 1,
                                   train_data.images.sizes().end());
  const int64_t num_classes = o.num_classes > 0 ? o.num_classes : train_data.num_classes();

  // Validate every option before the first epoch, so a typo costs nothing.
  const bool adversarial = !o.adversarial.empty();
  ADVTK_CHECK(!adversarial || !o.eps.empty(), "--adversarial ", o.adversarial,
              ": give the budget, e.g. --eps 0.1 or --eps 8/255");
  AdversarialTrainingOptions adv;
  if (!o.eps.empty()) {
    adv.threat.norm = parse_norm(o.norm);
    adv.threat.eps = parse_number(o.eps, "--eps");
    adv.threat.lo = model_options.input_lo;
    adv.threat.hi = model_options.input_hi;
    ADVTK_CHECK(adv.threat.eps > 0, "--eps: expected a budget > 0, got ", o.eps);
  }
  if (adversarial) {
    adv.method = parse_adversarial_method(o.adversarial);
    adv.steps = o.attack_steps;
    if (!o.attack_step_size.empty())
      adv.step_size = parse_number(o.attack_step_size, "--attack-step-size");
    adv.beta = o.beta;
    adv.mix = o.mix;
    adv.epsilon_warmup = o.epsilon_warmup;
    adv.seed = o.common.seed;
    adv = resolve(adv);
  } else {
    ADVTK_CHECK(!o.attack_steps && o.attack_step_size.empty() && o.mix == 1 &&
                    o.epsilon_warmup == 0 && o.beta == 6.0,
                "--attack-steps, --attack-step-size, --mix, --epsilon-warmup and --beta need "
                "--adversarial pgd|fgsm-rs|trades");
  }
  const KeepPolicy keep =
      parse_keep(o.keep.empty() ? (adversarial ? "best-robust" : "last") : o.keep);
  const std::optional<Dataset> validation = load_validation(o);

  std::optional<Model> model;
  if (!o.arch.empty()) {
    ZooOptions zoo;
    zoo.input_shape = shape;
    zoo.num_classes = num_classes;
    zoo.seed = o.common.seed;
    model = Model::wrap(build_zoo_model(parse_architecture(o.arch), zoo), model_options, o.arch);
  } else {
    model = load_model_for(o.model_path, model_options, train_data);
  }
  model->fit_input_layout(shape, num_classes);
  if (o.epochs == 0) {
    // The untrained network as initialised: gradient inversion is first studied on these.
    ADVTK_CHECK(!o.arch.empty(), "--epochs 0: only with --arch (writes the initialised model)");
    ensure_directory(o.out);
    const std::string model_path = (std::filesystem::path(o.out) / "model.pt").string();
    model->save(model_path);
    std::cout << "model        " << model_path << " (initialised, not trained)\n";
    return;
  }

  TrainOptions t;
  t.epochs = o.epochs;
  t.batch_size = o.common.batch_size;
  t.optimizer = optimizer;
  t.schedule.kind = parse_schedule(o.schedule);
  t.schedule.warmup_epochs = o.warmup;
  t.schedule.step_epochs = o.step_epochs;
  t.schedule.gamma = o.gamma;
  t.schedule.min_lr = o.min_lr;
  t.clip_grad_norm = o.clip_grad_norm;
  t.seed = o.common.seed;
  t.checkpoint_dir = checkpoint_dir;
  t.resume = o.resume;
  t.group = &ranks.group;
  t.keep = keep;
  t.rank_metric = kPgdAccuracyMetric;
  t.config = {{"arch", o.arch},
              {"model", o.model_path},
              {"data", o.data.spec},
              {"optimizer", o.optimizer},
              {"lr", t.optimizer.lr},
              {"epochs", o.epochs},
              {"batch_size", t.batch_size},
              {"schedule", o.schedule},
              {"seed", o.common.seed},
              {"keep", keep == KeepPolicy::Best ? "best-robust" : "last"}};
  if (adversarial) {
    t.config["adversarial"] = {{"method", adversarial_method_name(adv.method)},
                               {"norm", norm_name(adv.threat.norm)},
                               {"eps", adv.threat.eps},
                               {"steps", *adv.steps},
                               {"step_size", *adv.step_size},
                               {"beta", adv.beta},
                               {"mix", adv.mix},
                               {"epsilon_warmup", adv.epsilon_warmup}};
  }
  if (!o.eps.empty()) {
    ADVTK_CHECK(validation.has_value(),
                "--eps: robust validation needs validation data; give "
                "--val-data");
    RobustValidationOptions rv;
    rv.threat = adv.threat;
    rv.seed = o.common.seed;
    rv.detect_catastrophic_overfitting = adversarial && adv.method == AdversarialMethod::FgsmRs;
    auto robust_check = make_robust_epoch_check(std::make_shared<const Dataset>(*validation), rv);
    t.epoch_check = [robust_check, adv, adversarial](const Model& m,
                                                     const std::vector<EpochRecord>& history,
                                                     EpochRecord& record) {
      if (adversarial)
        record.metrics[kEpsMetric] = warmed_up_eps(adv, static_cast<double>(record.epoch));
      robust_check(m, history, record);
    };
    t.config["robust_validation"] = {{"attack", "pgd"},
                                     {"steps", rv.pgd_steps},
                                     {"norm", norm_name(rv.threat.norm)},
                                     {"eps", rv.threat.eps},
                                     {"examples", validation->size()}};
  }
  ensure_directory(o.out);
  spdlog::info("training {} on {} ({} examples), {} with lr {}, {} epochs", model->name(),
               train_data.source, train_data.size(), o.optimizer, t.optimizer.lr, o.epochs);
  if (!ranks.group.alone())
    spdlog::info("data-parallel over {} ranks: gradients summed {}", ranks.group.size(),
                 ranks.group.device_exchange(model->device()).how);
  if (adversarial) {
    spdlog::info("adversarial training: {}, {} eps {}, {} step(s) of {}{}",
                 adversarial_method_name(adv.method), norm_name(adv.threat.norm), adv.threat.eps,
                 *adv.steps, *adv.step_size,
                 adv.method == AdversarialMethod::Trades ? fmt::format(", beta {}", adv.beta)
                 : adv.mix < 1 ? fmt::format(", {:.0f}% of each batch adversarial", 100 * adv.mix)
                               : std::string());
  }

  ProgressBar bar("epoch 1/" + std::to_string(o.epochs), train_data.size(),
                  show_progress(o.common) && ranks.leader());
  TrainCallbacks callbacks;
  const KillPoint kill = KillPoint::from_environment();
  callbacks.on_batch = [&](const TrainProgress& p) {
    if (p.examples_done < p.examples_total) kill.check("in-epoch", std::to_string(p.epoch));
    char stats[96];
    std::snprintf(stats, sizeof stats, "loss %.4f acc %.2f%% lr %.2g", p.loss, 100 * p.accuracy,
                  p.lr);
    bar.update(p.examples_done, stats);
  };
  callbacks.on_epoch = [&](const EpochRecord& r) {
    kill.check("epoch", std::to_string(r.epoch));
    char stats[160];
    std::snprintf(stats, sizeof stats, "loss %.4f acc %.2f%%", r.train_loss,
                  100 * r.train_accuracy);
    bar.finish(stats);
    if (r.metric(kPgdAccuracyMetric)) {
      spdlog::info(
          "epoch {}/{}: train loss {:.4f} acc {:.2f}%, val acc {:.2f}%, PGD-10 {:.2f}%, FGSM "
          "{:.2f}% ({:.1f} s)",
          r.epoch, o.epochs, r.train_loss, 100 * r.train_accuracy, 100 * *r.val_accuracy,
          100 * *r.metric(kPgdAccuracyMetric), 100 * *r.metric(kFgsmAccuracyMetric), r.seconds);
    } else if (r.val_accuracy) {
      spdlog::info(
          "epoch {}/{}: train loss {:.4f} acc {:.2f}%, val loss {:.4f} acc {:.2f}% ({:.1f} s)",
          r.epoch, o.epochs, r.train_loss, 100 * r.train_accuracy, *r.val_loss,
          100 * *r.val_accuracy, r.seconds);
    } else {
      spdlog::info("epoch {}/{}: train loss {:.4f} acc {:.2f}% ({:.1f} s)", r.epoch, o.epochs,
                   r.train_loss, 100 * r.train_accuracy, r.seconds);
    }
    bar.reset("epoch " + std::to_string(r.epoch + 1) + "/" + std::to_string(o.epochs),
              train_data.size());
  };
  std::unique_ptr<TrainingObjective> objective =
      adversarial ? make_adversarial_objective(adv) : std::make_unique<CrossEntropyObjective>();
  const TrainResult result =
      train(*model, train_data, validation ? &*validation : nullptr, *objective, t, callbacks);
  if (!result.stop_reason.empty()) spdlog::warn("stopped: {}", result.stop_reason);
  if (!ranks.leader()) return;  // every rank holds the same model; rank 0 writes it

  const std::string model_path = (std::filesystem::path(o.out) / "model.pt").string();
  model->save(model_path);
  nlohmann::json history = nlohmann::json::array();
  for (const auto& r : result.history) history.push_back(to_json(r));
  write_file_atomic((std::filesystem::path(o.out) / "history.json").string(),
                    history.dump(2) + "\n");
  write_file_atomic((std::filesystem::path(o.out) / "history.csv").string(),
                    history_csv(result.history));

  // The figures of the epoch whose model was saved.
  const EpochRecord& kept = result.kept_epoch > 0
                                ? result.history.at(static_cast<size_t>(result.kept_epoch - 1))
                                : result.history.back();
  double seconds = 0;
  for (const auto& r : result.history) seconds += r.seconds;
  std::cout << "model        " << model_path << " (epoch " << kept.epoch << " of "
            << result.history.size()
            << (keep == KeepPolicy::Best && result.best_epoch > 0 ? ", the best" : "") << ")\n"
            << "train        loss " << kept.train_loss << ", accuracy " << 100 * kept.train_accuracy
            << "%\n";
  if (kept.val_accuracy) {
    std::cout << "validation   loss " << *kept.val_loss << ", accuracy " << 100 * *kept.val_accuracy
              << "% (" << validation->source << ", " << validation->size() << " examples)\n";
  }
  if (kept.metric(kPgdAccuracyMetric)) {
    std::cout << "robust       PGD-10 " << 100 * *kept.metric(kPgdAccuracyMetric) << "%, FGSM "
              << 100 * *kept.metric(kFgsmAccuracyMetric) << "% (" << norm_name(adv.threat.norm)
              << " eps " << adv.threat.eps << ")\n";
  }
  if (!result.stop_reason.empty()) std::cout << "stopped      " << result.stop_reason << "\n";
  std::cout << "time         " << format_duration(seconds) << "\n";
}

}  // namespace

void setup_train_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("train", "Train a zoo architecture or fine-tune a TorchScript model");
  cmd->add_option("--arch", o->arch, "zoo architecture: mlp, cnn, lenet, resnet, dlg-lenet")
      ->check(CLI::IsMember(architecture_names()));
  cmd->add_option("--model", o->model_path, "TorchScript model to fine-tune instead");
  cmd->add_option("--out", o->out, "output directory (model.pt, history.csv/json, checkpoint/)")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs,
                  "epochs (0: write the freshly initialised model, e.g. for advtk leak)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer,
                  "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw")
      ->check(CLI::IsMember({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}))
      ->capture_default_str();
  cmd->add_option(
      "--lr", o->lr,
      "learning rate (default: 0.01 for sgd/momentum/nesterov/adagrad, 0.001 otherwise)");
  cmd->add_option("--momentum", o->momentum, "momentum for momentum/nesterov")
      ->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "L2 penalty (decoupled for adamw)")
      ->capture_default_str();
  cmd->add_option("--betas", o->betas, "Adam/AdamW betas b1,b2")->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "constant, step or cosine")
      ->check(CLI::IsMember({"constant", "step", "cosine"}))
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "linear warm-up epochs")->capture_default_str();
  cmd->add_option("--step-epochs", o->step_epochs,
                  "step schedule: epochs between decays (default a third of the run)");
  cmd->add_option("--gamma", o->gamma, "step schedule: decay factor")->capture_default_str();
  cmd->add_option("--min-lr", o->min_lr, "cosine schedule: final learning rate")
      ->capture_default_str();
  cmd->add_option("--clip-grad-norm", o->clip_grad_norm, "clip the gradient's global norm (0: off)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue from OUT/checkpoint");
  cmd->add_option("--num-classes", o->num_classes, "output classes (default: from the data)");
  cmd->add_option("--val-data", o->val_data, "validation data (default: the test split of --data)");
  cmd->add_option("--val-size", o->val_size,
                  "validate on at most this many examples (default: all; 1000 with --eps)")
      ->check(at_least(1));
  cmd->add_option("--adversarial", o->adversarial,
                  "adversarial training: pgd (Madry et al. 2018), fgsm-rs (Wong et al. 2020), "
                  "trades (Zhang et al. 2019)");
  cmd->add_option("--eps", o->eps,
                  "budget (fractions allowed, e.g. 8/255); without --adversarial: only the "
                  "per-epoch robust validation");
  cmd->add_option("--norm", o->norm, "linf, l2 or l1")->capture_default_str();
  cmd->add_option("--attack-steps", o->attack_steps,
                  "training attack steps (default: pgd 7, fgsm-rs 1, trades 10)");
  cmd->add_option("--attack-step-size", o->attack_step_size,
                  "training attack step (default: eps/4; fgsm-rs 1.25*eps)");
  cmd->add_option("--beta", o->beta, "trades: weight of the KL term")->capture_default_str();
  cmd->add_option("--mix", o->mix,
                  "fraction of each batch replaced by adversarial examples, the rest clean "
                  "(ART's ratio)")
      ->capture_default_str();
  cmd->add_option("--epsilon-warmup", o->epsilon_warmup, "epochs over which eps ramps up from 0")
      ->capture_default_str();
  cmd->add_option("--keep", o->keep,
                  "which epoch's model to save: best-robust (default with --adversarial) or last");
  add_common_options(*cmd, o->common, 64);
  add_force_flag(*cmd, o->force);
  add_data_options(*cmd, o->data, "train");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Example:\n  advtk train --arch cnn --data fashion-mnist --epochs 2 --out runs/cnn\n"
      "  advtk train --model mine.pt --data cifar10:data/cifar --optimizer nesterov --lr 0.05 "
      "--schedule cosine --warmup 1 --out runs/mine\n"
      "  advtk train --arch cnn --adversarial pgd --eps 0.1 --epochs 4 --out runs/cnn-pgd");
  cmd->callback([o, &exit_code] {
    run_train(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
