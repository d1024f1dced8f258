// advtk backdoor MODEL [--clean SPEC] [--data TRAIN] [--inputs SPEC] --out DIR: is a backdoor
// planted in this model or its training data? Neural Cleanse reverse-engineers, for every class,
// the smallest trigger that sends clean inputs to it; with the training set, spectral signatures,
// activation clustering and deep k-NN look for a poisoned group in each class; STRIP screens
// --inputs. Exit 3 when a backdoor or a poisoned group is found.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "audit/trigger_image.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/image_folder.h"
#include "data/npy.h"
#include "data/tensor_file.h"
#include "eval/evaluation.h"
#include "poisoning/backdoor_scan.h"
#include "poisoning/poison.h"
#include "poisoning/strip.h"

namespace advtk::cli {
namespace {

namespace fs = std::filesystem;

struct BackdoorCliOptions {
  bool force = false;  // --force: write beside another command's results
  std::string model_path;
  std::string out = "runs/backdoor";
  BackdoorScanOptions scan;
  std::string inputs;  // a data spec: inputs for STRIP to screen
  StripOptions strip;
  std::string train_data;    // a data spec: the training set to scan
  std::string poison_index;  // .npy of the training ids known to be poisoned
  std::string trigger;       // a known trigger (advtk poison's trigger.pt) to measure
  int64_t trigger_target = 0;
  CommonOptions common;
  DataOptions clean;
  ModelCliOptions model;
};

std::vector<int64_t> read_poison_index(const std::string& path) {
  const torch::Tensor t = read_npy(path);
  ADVTK_CHECK(t.dim() == 1 && !t.is_floating_point(), "--poison-index ", path,
              ": expected a 1-d array of integer example ids");
  const torch::Tensor l = t.to(torch::kLong).contiguous();
  return {l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel()};
}

void print_training_data(const nlohmann::json& j) {
  const nlohmann::json& t = j["training_data"];
  std::cout << "training data: " << j["suspicious_index"].size() << " of " << t["examples"]
            << " examples flagged (" << t["features"].get<std::string>() << ", "
            << t["feature_dims"] << " dims)";
  if (!t["poisoned_classes"].empty()) {
    std::cout << "; poisoned group in class";
    for (const auto& c : t["poisoned_classes"]) std::cout << " " << c;
  }
  std::cout << "\n";
  for (const char* method : {"spectral", "activation_clustering", "deep_knn"})
    if (j[method].contains("tpr"))
      std::cout << "  " << method << ": tpr " << j[method]["tpr"].get<double>() << ", fpr "
                << j[method]["fpr"].get<double>() << "\n";
}

int run_backdoor(const BackdoorCliOptions& c) {
  apply_common(c.common);
  claim_output_folder(c.out, "backdoor", c.force);
  const Dataset data = load_data(c.clean, c.common.seed);
  ADVTK_CHECK(c.poison_index.empty() || !c.train_data.empty(),
              "--poison-index: give the training set it indexes with --data");
  const ModelOptions model_options = to_model_options(c.model, c.common.device);
  const Model model = [&] {
    try {
      return load_model_for(c.model_path, model_options, data);
    } catch (const Error& e) {
      if (c.clean.spec != "fashion-mnist") throw;
      throw Error(
          std::string(e.what()) +
          " (the clean inputs default to fashion-mnist; give the model's own with --clean)");
    }
  }();
  const int64_t classes = std::max<int64_t>(
      data.num_classes(),
      model.probe({data.images.size(1), data.images.size(2), data.images.size(3)}, 0).num_classes);
  std::optional<Dataset> train;
  std::vector<int64_t> truth;
  if (!c.train_data.empty()) {
    if (!c.poison_index.empty()) truth = read_poison_index(c.poison_index);
    train = load_dataset(parse_data_source(c.train_data, "train"));
  }
  // A known trigger to measure: read before the long search, so that a bad file fails first.
  std::optional<Trigger> known;
  if (!c.trigger.empty()) {
    const auto t = load_tensor_dict(c.trigger);
    ADVTK_CHECK(t.count("pattern") && t.count("mask"), "--trigger ", c.trigger,
                ": expected advtk poison's trigger.pt (pattern, mask)");
    known = Trigger{t.at("pattern"), t.at("mask")};
    ADVTK_CHECK(
        known->pattern.dim() == 3 && known->pattern.sizes() == data.images.sizes().slice(1) &&
            known->mask.dim() == 3 && known->mask.size(0) == 1 &&
            known->mask.sizes().slice(1) == data.images.sizes().slice(2),
        "--trigger ", c.trigger, ": its pattern and mask do not fit the clean inputs' shape");
    ADVTK_CHECK(c.trigger_target >= 0 && c.trigger_target < classes,
                "--trigger-target: expected a class in 0..", classes - 1, ", got ",
                c.trigger_target);
  }
  BackdoorScanOptions o = c.scan;
  o.neural_cleanse.seed = c.common.seed;
  o.training_data.clustering.seed = c.common.seed;
  o.batch_size = c.common.batch_size;
  ProgressBar bar("neural cleanse, " + std::to_string(classes) + " classes",
                  neural_cleanse_class_steps(o.neural_cleanse, classes), show_progress(c.common));
  const BackdoorScan scan = scan_for_backdoor(model, classes, data, train ? &*train : nullptr,
                                              c.poison_index.empty() ? nullptr : &truth, o,
                                              [&](const std::string& phase, int64_t done, int64_t) {
                                                if (phase == "neural cleanse") bar.update(done);
                                              });
  bar.finish();
  const NeuralCleanseReport& r = scan.neural_cleanse;
  const bool found = scan.found;
  const int64_t target = scan.target;
  nlohmann::json j = {{"model", c.model_path}};
  j.update(scan.json);
  j["clean_accuracy"] = evaluate(model, data, c.common.batch_size).accuracy;
  if (known) {
    j["known_trigger"] = {
        {"file", c.trigger},
        {"target", c.trigger_target},
        {"attack_success_rate",
         known->empty() ? nlohmann::json(nullptr)
                        : nlohmann::json(attack_success_rate(model, data, *known, c.trigger_target,
                                                             c.common.batch_size))}};
  }
  j["rule"] = j["rule"].get<std::string>() +
              "; STRIP's flags on --inputs are evidence about those inputs, not the model";
  if (!c.inputs.empty()) {
    const Dataset screened = load_dataset(parse_data_source(c.inputs, "test"));
    ADVTK_CHECK(screened.images.sizes().slice(1) == data.images.sizes().slice(1), "--inputs ",
                c.inputs, ": images of another shape than the clean data's");
    StripOptions so = c.strip;
    so.seed = c.common.seed;
    const StripReport sr = strip_screen(model, data.images, screened.images, so);
    std::vector<int64_t> ids;
    const torch::Tensor all = screened.example_ids();
    for (int64_t i : sr.flagged) ids.push_back(all[i].item<int64_t>());
    j["strip"] = {{"inputs", c.inputs},
                  {"screened", screened.size()},
                  {"copies", so.copies},
                  {"false_rejection", so.false_rejection},
                  {"threshold", sr.threshold},
                  {"clean_entropy_mean", sr.clean_mean},
                  {"clean_entropy_std", sr.clean_std},
                  {"clean_flagged", sr.clean_flagged},
                  {"entropy", sr.entropy},
                  {"flagged", ids}};
    std::cout << "strip: " << ids.size() << " of " << screened.size()
              << " inputs flagged as carrying a trigger (entropy below " << sr.threshold
              << " bits)\n";
  }
  ensure_directory(c.out);
  const fs::path dir(c.out);
  save_tensor_dict((dir / "triggers.pt").string(), {{"masks", r.masks}, {"patterns", r.patterns}});
  write_png((dir / "triggers.png").string(),
            render_image_rows(
                trigger_image_rows(r.masks, r.patterns, r.searched, r.mask_norm, r.anomaly_index)));
  write_file_atomic((dir / "backdoor.json").string(), j.dump(2) + "\n");

  if (train) print_training_data(j);
  std::cout << "neural cleanse: mask L1 norm per class (anomaly index, on log norms)\n";
  if (r.prescreen_steps > 0)
    std::cout << "  a pre-screen (" << r.prescreen_steps << " steps per class) kept the "
              << r.searched.size() << " of " << classes
              << " classes with the smallest masks; the others were not searched in full\n";
  for (int64_t t : r.searched)
    std::cout << "  class " << std::setw(3) << t << "  " << std::fixed << std::setprecision(1)
              << std::setw(8) << r.mask_norm[t] << "  (" << std::setprecision(2)
              << r.anomaly_index[t] << ", " << r.log_anomaly_index[t] << ")"
              << (std::find(r.flagged.begin(), r.flagged.end(), t) != r.flagged.end() ? "  FLAGGED"
                                                                                      : "")
              << "\n";
  std::cout << "clean accuracy " << 100 * j["clean_accuracy"].get<double>() << "% on the "
            << data.size() << " clean inputs";
  if (j.contains("known_trigger") && !j["known_trigger"]["attack_success_rate"].is_null())
    std::cout << "; the known trigger's attack success rate "
              << 100 * j["known_trigger"]["attack_success_rate"].get<double>() << "%";
  std::cout << "\n";
  std::cout << "verdict: "
            << (found ? "backdoor, target class " + std::to_string(target)
                      : std::string("no-evidence"))
            << "  (" << std::setprecision(1) << r.seconds << " s)\nwrote " << c.out
            << "/backdoor.json, triggers.png, triggers.pt\n";
  return found ? 3 : 0;
}

}  // namespace

void setup_backdoor_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BackdoorCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "backdoor",
      "Is a backdoor planted in this model or its training data? (Neural Cleanse, spectral "
      "signatures, activation clustering, deep k-NN, STRIP; exit 3 when found)");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_option("--out", o->out, "output directory (backdoor.json, triggers.png, triggers.pt)")
      ->capture_default_str();
  CLI::Option_group* g = cmd->add_option_group("neural cleanse", "Wang et al. 2019");
  g->add_option("--nc-steps", o->scan.neural_cleanse.steps,
                "optimisation steps per class (--nc-group classes at once)")
      ->check(at_least(1))
      ->capture_default_str();
  g->add_option("--nc-batch", o->scan.neural_cleanse.batch_size, "clean inputs per class per step")
      ->check(at_least(1))
      ->capture_default_str();
  g->add_option("--anomaly-threshold", o->scan.neural_cleanse.anomaly_threshold,
                "also flag a class whose anomaly index on the norms exceeds this (the paper's "
                "rule: 2; 0: not used, it false-alarms on clean models)")
      ->check(at_least(0.0))
      ->capture_default_str();
  g->add_option("--log-anomaly-threshold", o->scan.neural_cleanse.log_anomaly_threshold,
                "flag a class whose anomaly index on log norms exceeds this")
      ->check(at_least(0.0))
      ->capture_default_str();
  g->add_option("--nc-group", o->scan.neural_cleanse.classes_per_search,
                "classes optimised together (each --nc-batch inputs a step)")
      ->check(at_least(1))
      ->capture_default_str();
  g->add_option("--nc-prescreen-above", o->scan.neural_cleanse.prescreen_above,
                "with more classes than this, a pre-screen picks the classes to search in full")
      ->check(at_least(0))
      ->capture_default_str();
  g->add_option("--nc-keep", o->scan.neural_cleanse.prescreen_keep,
                "classes the pre-screen keeps (0: max(10, a tenth of the classes))")
      ->check(at_least(0))
      ->capture_default_str();
  g->add_option("--nc-prescreen-steps", o->scan.neural_cleanse.prescreen_steps,
                "the pre-screen's steps per class (0: a fifth of --nc-steps)")
      ->check(at_least(0))
      ->capture_default_str();
  CLI::Option_group* st = cmd->add_option_group("strip", "Gao et al. 2019, on --inputs");
  st->add_option("--inputs", o->inputs, "inputs to screen for a trigger (a data spec, as --data)");
  st->add_option("--strip-frr", o->strip.false_rejection,
                 "the clean inputs' share the threshold may reject (normal fit)")
      ->capture_default_str();
  st->add_option("--strip-copies", o->strip.copies, "superimpositions per input")
      ->check(at_least(1))
      ->capture_default_str();
  CLI::Option_group* td = cmd->add_option_group(
      "training data", "Tran et al. 2018, Chen et al. 2018, Peri et al. 2020");
  td->add_option("--data", o->train_data, "the training set to scan (a data spec; train split)");
  td->add_option("--poison-index", o->poison_index,
                 "a .npy of the training ids known to be poisoned: adds each detector's tpr/fpr");
  td->add_option("--feature-layer", o->scan.feature_layer,
                 "read features from this submodule's output (default: the input of the last "
                 "linear layer)");
  td->add_option(
      "--trigger", o->trigger,
      "a known trigger (advtk poison's trigger.pt): its attack success rate on the clean "
      "inputs is reported");
  td->add_option("--trigger-target", o->trigger_target, "the known trigger's target class")
      ->capture_default_str();
  td->add_option("--knn", o->scan.training_data.knn.k, "deep k-NN's neighbours")
      ->check(at_least(1))
      ->capture_default_str();
  o->clean.limit = 500;
  o->clean.split = "test";
  CLI::Option_group* cl = cmd->add_option_group("clean inputs", "what the detectors compare with");
  cl->add_option("--clean", o->clean.spec,
                 "clean labelled inputs (a data spec; test split): Neural Cleanse stamps them, "
                 "STRIP blends them, the training-data detectors take them as the reference")
      ->capture_default_str();
  cl->add_option("--clean-limit", o->clean.limit, "use at most this many clean inputs")
      ->check(at_least(1))
      ->capture_default_str();
  add_common_options(*cmd, o->common, 128);
  add_force_flag(*cmd, o->force);
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Example:\n  advtk backdoor runs/badnets-model/model.pt --data "
      "npy:runs/badnets/x.npy,runs/badnets/y.npy --poison-index runs/badnets/poison_index.npy "
      "--out runs/backdoor");
  cmd->callback([o, &exit_code] { exit_code = run_backdoor(*o); });
}

}  // namespace advtk::cli
