// advtk backdoor MODEL [--data CLEAN] --out DIR: is a backdoor planted in this model? Neural
// Cleanse reverse-engineers, for every class, the smallest trigger that sends clean inputs to it;
// a class that needs a far smaller one than the others is a backdoor's target. Exit 3 when found.
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
#include "data/tensor_file.h"
#include "poisoning/neural_cleanse.h"
#include "poisoning/strip.h"

namespace advtk::cli {
namespace {

namespace fs = std::filesystem;

struct BackdoorCliOptions {
  std::string model_path;
  std::string out = "runs/backdoor";
  NeuralCleanseOptions nc;
  std::string inputs;  // a data spec: inputs for STRIP to screen
  StripOptions strip;
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

int run_backdoor(const BackdoorCliOptions& c) {
  apply_common(c.common);
  const Dataset data = load_data(c.data, c.common.seed);
  const Model model =
      load_model_for(c.model_path, to_model_options(c.model, c.common.device), data);
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
  const bool found = !r.flagged.empty();
  int64_t target = -1;
  for (int64_t t : r.flagged)
    if (target < 0 || r.mask_norm[t] < r.mask_norm[target]) target = t;
  nlohmann::json j = {
      {"model", c.model_path},
      {"clean_data", data.source},
      {"clean_examples", data.size()},
      {"verdict", found ? "backdoor" : "no-evidence"},
      {"target_class", found ? nlohmann::json(target) : nlohmann::json(nullptr)},
      {"rule",
       "backdoor when Neural Cleanse flags a class: its reverse-engineered mask's L1 norm is "
       "below the median of the classes' and its anomaly index (|norm - median| / (1.4826 MAD)) "
       "above " +
           std::to_string(nc.anomaly_threshold).substr(0, 3)},
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
  if (!c.inputs.empty()) {
    Dataset screened = load_dataset(parse_data_source(c.inputs, "test"));
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
      "backdoor", "Is a backdoor planted in this model? (Neural Cleanse; exit 3 when found)");
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
  o->data.limit = 500;
  add_common_options(*cmd, o->common, 128);
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "--data gives the clean inputs the search stamps (default: the first 500 of "
      "fashion-mnist's test split).\nExample:\n  advtk backdoor runs/badnets-model/model.pt "
      "--out runs/backdoor");
  cmd->callback([o, &exit_code] { exit_code = run_backdoor(*o); });
}

}  // namespace advtk::cli
