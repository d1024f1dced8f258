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

#include "audit/image_grid.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/image_folder.h"
#include "data/npy.h"
#include "data/tensor_file.h"
#include "models/feature_layer.h"
#include "poisoning/neural_cleanse.h"
#include "poisoning/strip.h"
#include "poisoning/training_data_scan.h"

namespace advtk::cli {
namespace {

namespace fs = std::filesystem;

struct BackdoorCliOptions {
  std::string model_path;
  std::string out = "runs/backdoor";
  NeuralCleanseOptions nc;
  std::string inputs;  // a data spec: inputs for STRIP to screen
  StripOptions strip;
  std::string train_data;    // a data spec: the training set to scan
  std::string poison_index;  // .npy of the training ids known to be poisoned
  std::string feature_layer;
  TrainingDataScanOptions scan;
  CommonOptions common;
  DataOptions clean;
  ModelCliOptions model;
};

// The training set's scan: features of the training set and of the clean reference.
nlohmann::json scan_section(const BackdoorCliOptions& c, const Model& model, const Dataset& clean,
                            int64_t classes, std::vector<int64_t>& poisoned_classes) {
  const Dataset train = load_dataset(parse_data_source(c.train_data, "train"));
  ADVTK_CHECK(train.images.sizes().slice(1) == clean.images.sizes().slice(1), "--data ",
              c.train_data, ": images of another shape than the clean inputs'");
  std::vector<int64_t> truth;
  if (!c.poison_index.empty()) {
    const torch::Tensor t = read_npy(c.poison_index);
    ADVTK_CHECK(t.dim() == 1 && !t.is_floating_point(), "--poison-index ", c.poison_index,
                ": expected a 1-d array of integer example ids");
    const torch::Tensor l = t.to(torch::kLong).contiguous();
    truth.assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  }
  const FeatureLayer layer = FeatureLayer::find(model, c.feature_layer);
  ProgressBar bar("features of " + std::to_string(train.size()) + " training images", 1,
                  show_progress(c.common));
  FeatureSet set;
  set.features = layer.extract(train.images, c.common.batch_size);
  set.labels = train.labels;
  set.reference_features = layer.extract(clean.images, c.common.batch_size);
  set.reference_labels = clean.labels;
  set.classes = classes;
  bar.finish();
  TrainingDataScanOptions o = c.scan;
  o.clustering.seed = c.common.seed;
  const TrainingDataScan scan = scan_training_data(set, o);
  poisoned_classes = scan.poisoned_classes;
  nlohmann::json j = scan_json(scan, train.example_ids(), truth.empty() ? nullptr : &truth);
  j["data"] = c.train_data;
  j["examples"] = train.size();
  j["features"] = layer.description();
  j["feature_dims"] = set.features.size(1);
  std::cout << "training data: " << j["suspicious_index"].size() << " of " << train.size()
            << " examples flagged (" << layer.description() << ", " << set.features.size(1)
            << " dims)";
  if (!poisoned_classes.empty()) {
    std::cout << "; poisoned group in class";
    for (int64_t t : poisoned_classes) std::cout << " " << t;
  }
  std::cout << "\n";
  for (const char* method : {"spectral", "activation_clustering", "deep_knn"})
    if (j[method].contains("tpr"))
      std::cout << "  " << method << ": tpr " << j[method]["tpr"].get<double>() << ", fpr "
                << j[method]["fpr"].get<double>() << "\n";
  return j;
}

int run_backdoor(const BackdoorCliOptions& c) {
  apply_common(c.common);
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
  NeuralCleanseOptions nc = c.nc;
  nc.seed = c.common.seed;
  ADVTK_CHECK(nc.steps >= 1 && nc.batch_size >= 1, "--nc-steps, --nc-batch: expected at least 1");
  ProgressBar bar("neural cleanse, " + std::to_string(classes) + " classes", nc.steps,
                  show_progress(c.common));
  const NeuralCleanseReport r = neural_cleanse(model, data.images, classes, nc,
                                               [&](int64_t done, int64_t) { bar.update(done); });
  bar.finish();
  std::vector<int64_t> poisoned_classes;
  const nlohmann::json scan = c.train_data.empty()
                                  ? nlohmann::json(nullptr)
                                  : scan_section(c, model, data, classes, poisoned_classes);
  const bool found = !r.flagged.empty() || !poisoned_classes.empty();
  int64_t target = -1;
  for (int64_t t : r.flagged)
    if (target < 0 || r.mask_norm[t] < r.mask_norm[target]) target = t;
  if (target < 0 && !poisoned_classes.empty()) target = poisoned_classes.front();
  nlohmann::json j = {
      {"model", c.model_path},
      {"clean_data", data.source},
      {"clean_examples", data.size()},
      {"verdict", found ? "backdoor" : "no-evidence"},
      {"target_class", found ? nlohmann::json(target) : nlohmann::json(nullptr)},
      {"rule",
       "backdoor when Neural Cleanse flags a class (its reverse-engineered mask's L1 norm below "
       "the classes' median with an anomaly index |norm - median| / (1.4826 MAD) above " +
           std::to_string(nc.anomaly_threshold).substr(0, 3) +
           ") or, with --data, a training-data detector finds a poisoned group in a class (each "
           "section's rule); STRIP's flags on --inputs are evidence about those inputs, not the "
           "model"},
      {"neural_cleanse",
       {{"mask_norm", r.mask_norm},
        {"attack_success", r.success},
        {"anomaly_index", r.anomaly_index},
        {"log_anomaly_index", r.log_anomaly_index},
        {"flagged", r.flagged},
        {"classes_searched", classes},
        {"steps", nc.steps},
        {"batch_size", nc.batch_size},
        {"seconds", r.seconds}}}};
  if (!scan.is_null()) {
    for (const char* key : {"spectral", "activation_clustering", "deep_knn"}) j[key] = scan[key];
    j["suspicious_index"] = scan["suspicious_index"];
    j["training_data"] = {{"data", scan["data"]},
                          {"examples", scan["examples"]},
                          {"features", scan["features"]},
                          {"feature_dims", scan["feature_dims"]},
                          {"poisoned_classes", scan["poisoned_classes"]},
                          {"seconds", scan["seconds"]}};
  }
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
  ImageRow masks{"mask", r.masks, {}}, triggers{"mask x pattern", r.masks * r.patterns, {}};
  for (int64_t t = 0; t < classes; ++t) {
    std::ostringstream s;
    s << "class " << t << ": " << std::fixed << std::setprecision(0) << r.mask_norm[t];
    masks.captions.push_back(s.str());
    triggers.captions.push_back("index " + std::to_string(r.anomaly_index[t]).substr(0, 4));
  }
  write_png((dir / "triggers.png").string(), render_image_rows({masks, triggers}));
  write_file_atomic((dir / "backdoor.json").string(), j.dump(2) + "\n");

  std::cout << "neural cleanse: mask L1 norm per class (anomaly index)\n";
  for (int64_t t = 0; t < classes; ++t)
    std::cout << "  class " << std::setw(3) << t << "  " << std::fixed << std::setprecision(1)
              << std::setw(8) << r.mask_norm[t] << "  (" << std::setprecision(2)
              << r.anomaly_index[t] << ")"
              << (std::find(r.flagged.begin(), r.flagged.end(), t) != r.flagged.end() ? "  FLAGGED"
                                                                                      : "")
              << "\n";
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
  g->add_option("--nc-steps", o->nc.steps, "optimisation steps per class (all classes at once)")
      ->check(at_least(1))
      ->capture_default_str();
  g->add_option("--nc-batch", o->nc.batch_size, "clean inputs per class per step")
      ->check(at_least(1))
      ->capture_default_str();
  g->add_option("--anomaly-threshold", o->nc.anomaly_threshold,
                "flag a class whose anomaly index exceeds this (the paper's 2)")
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
  td->add_option("--feature-layer", o->feature_layer,
                 "read features from this submodule's output (default: the input of the last "
                 "linear layer)");
  td->add_option("--knn", o->scan.knn.k, "deep k-NN's neighbours")
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
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Example:\n  advtk backdoor runs/badnets-model/model.pt --data "
      "npy:runs/badnets/x.npy,runs/badnets/y.npy --poison-index runs/badnets/poison_index.npy "
      "--out runs/backdoor");
  cmd->callback([o, &exit_code] { exit_code = run_backdoor(*o); });
}

}  // namespace advtk::cli
