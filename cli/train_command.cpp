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
#include "cli/progress_bar.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "models/device.h"
#include "models/zoo.h"
#include "training/trainer.h"

namespace advtk::cli {
namespace {

struct TrainCliOptions {
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
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

std::string history_csv(const std::vector<EpochRecord>& history) {
  std::ostringstream out;
  out << "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds\n";
  for (const auto& r : history) {
    out << r.epoch << "," << r.lr << "," << r.train_loss << "," << r.train_accuracy << ",";
    if (r.val_loss) out << *r.val_loss;
    out << ",";
    if (r.val_accuracy) out << *r.val_accuracy;
    out << "," << r.seconds << "\n";
  }
  return out.str();
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
  v.limit = o.val_size;
  return load_data(v, o.common.seed);
}

void run_train(const TrainCliOptions& o) {
  apply_common(o.common);
  ADVTK_CHECK(o.arch.empty() != o.model_path.empty(),
              "give either --arch (train a zoo model) or --model (fine-tune a TorchScript file)");
  const Dataset train_data = load_data(o.data, o.common.seed);
  const std::optional<Dataset> validation = load_validation(o);
  const ModelOptions model_options = to_model_options(o.model, o.common.device);
  const std::vector<int64_t> shape(train_data.images.sizes().begin() + 1,
                                   train_data.images.sizes().end());
  const int64_t num_classes = o.num_classes > 0 ? o.num_classes : train_data.num_classes();

  const std::string checkpoint_dir = (std::filesystem::path(o.out) / "checkpoint").string();
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
  model->probe(shape, num_classes);

  TrainOptions t;
  t.epochs = o.epochs;
  t.batch_size = o.common.batch_size;
  t.optimizer.kind = parse_optimizer(o.optimizer);
  t.optimizer.lr = o.lr.value_or(default_learning_rate(t.optimizer.kind));
  t.optimizer.momentum = o.momentum;
  t.optimizer.weight_decay = o.weight_decay;
  const auto betas = parse_number_list(o.betas, "--betas");
  ADVTK_CHECK(betas.size() == 2, "--betas: expected two values b1,b2, got '", o.betas, "'");
  t.optimizer.beta1 = betas[0];
  t.optimizer.beta2 = betas[1];
  t.schedule.kind = parse_schedule(o.schedule);
  t.schedule.warmup_epochs = o.warmup;
  t.schedule.step_epochs = o.step_epochs;
  t.schedule.gamma = o.gamma;
  t.schedule.min_lr = o.min_lr;
  t.clip_grad_norm = o.clip_grad_norm;
  t.seed = o.common.seed;
  t.checkpoint_dir = checkpoint_dir;
  t.resume = o.resume;
  t.config = {{"arch", o.arch},
              {"model", o.model_path},
              {"data", o.data.spec},
              {"optimizer", o.optimizer},
              {"lr", t.optimizer.lr},
              {"epochs", o.epochs},
              {"batch_size", t.batch_size},
              {"schedule", o.schedule},
              {"seed", o.common.seed}};
  ensure_directory(o.out);
  spdlog::info("training {} on {} ({} examples), {} with lr {}, {} epochs", model->name(),
               train_data.source, train_data.size(), o.optimizer, t.optimizer.lr, o.epochs);

  ProgressBar bar("epoch 1/" + std::to_string(o.epochs), train_data.size(),
                  show_progress(o.common));
  TrainCallbacks callbacks;
  callbacks.on_batch = [&](const TrainProgress& p) {
    char stats[96];
    std::snprintf(stats, sizeof stats, "loss %.4f acc %.2f%% lr %.2g", p.loss, 100 * p.accuracy,
                  p.lr);
    bar.update(p.examples_done, stats);
  };
  callbacks.on_epoch = [&](const EpochRecord& r) {
    char stats[160];
    std::snprintf(stats, sizeof stats, "loss %.4f acc %.2f%%", r.train_loss,
                  100 * r.train_accuracy);
    bar.finish(stats);
    if (r.val_accuracy) {
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
  CrossEntropyObjective objective;
  const TrainResult result =
      train(*model, train_data, validation ? &*validation : nullptr, objective, t, callbacks);

  const std::string model_path = (std::filesystem::path(o.out) / "model.pt").string();
  model->save(model_path);
  nlohmann::json history = nlohmann::json::array();
  for (const auto& r : result.history) history.push_back(to_json(r));
  write_file_atomic((std::filesystem::path(o.out) / "history.json").string(),
                    history.dump(2) + "\n");
  write_file_atomic((std::filesystem::path(o.out) / "history.csv").string(),
                    history_csv(result.history));

  const EpochRecord& last = result.history.back();
  double seconds = 0;
  for (const auto& r : result.history) seconds += r.seconds;
  std::cout << "model        " << model_path << "\n"
            << "epochs       " << last.epoch << "\n"
            << "train        loss " << last.train_loss << ", accuracy " << 100 * last.train_accuracy
            << "%\n";
  if (last.val_accuracy) {
    std::cout << "validation   loss " << *last.val_loss << ", accuracy " << 100 * *last.val_accuracy
              << "% (" << validation->source << ", " << validation->size() << " examples)\n";
  }
  std::cout << "time         " << format_duration(seconds) << "\n";
}

}  // namespace

void setup_train_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("train", "Train a zoo architecture or fine-tune a TorchScript model");
  cmd->add_option("--arch", o->arch, "zoo architecture: mlp, cnn, lenet, resnet")
      ->check(CLI::IsMember({"mlp", "cnn", "lenet", "resnet"}));
  cmd->add_option("--model", o->model_path, "TorchScript model to fine-tune instead");
  cmd->add_option("--out", o->out, "output directory (model.pt, history.csv/json, checkpoint/)")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "epochs")
      ->check(CLI::PositiveNumber)
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
  cmd->add_option("--val-size", o->val_size, "validate on at most this many examples")
      ->check(CLI::PositiveNumber);
  add_common_options(*cmd, o->common, 64);
  add_data_options(*cmd, o->data, "train");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Example:\n  advtk train --arch cnn --data fashion-mnist --epochs 2 --out runs/cnn\n"
      "  advtk train --model mine.pt --data cifar10:data/cifar --optimizer nesterov --lr 0.05 "
      "--schedule cosine --warmup 1 --out runs/mine");
  cmd->callback([o, &exit_code] {
    run_train(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
