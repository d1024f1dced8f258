// advtk leak MODEL --data … --attack analytic|idlg|dlg|ig [--defense …] --out DIR: what does one
// shared gradient give away? Reconstructs each client batch from its shared update and scores it.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "audit/image_grid.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress_bar.h"
#include "cli/ranks.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/image_folder.h"
#include "data/tensor_file.h"
#include "leakage/leak_run.h"

namespace advtk::cli {
namespace {

namespace fs = std::filesystem;

struct LeakCliOptions {
  bool force = false;  // --force: write beside another command's results
  std::string model_path;
  std::string attack;
  std::vector<std::string> defenses = {"none"};
  int64_t local_steps = 0;
  double local_lr = 1e-4;
  std::optional<int64_t> iterations;
  std::optional<double> lr;
  std::string optimizer = "lbfgs";
  double tv = InvertingGradientsOptions{}.tv;
  int64_t restarts = InvertingGradientsOptions{}.restarts;
  std::string out = "runs/leak";
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

LeakAttack parse_attack(const std::string& name) {
  for (LeakAttack a :
       {LeakAttack::Analytic, LeakAttack::Idlg, LeakAttack::Dlg, LeakAttack::InvertingGradients})
    if (leak_attack_name(a) == name) return a;
  throw Error("--attack: expected analytic, idlg, dlg or ig, got '" + name + "'");
}

GradientDefense parse_defense(const std::string& text) {
  GradientDefense d;
  if (text == "none") return d;
  const size_t eq = text.find('=');
  const std::string kind = text.substr(0, eq),
                    value = eq == std::string::npos ? "" : text.substr(eq + 1);
  const std::string option = "--defense " + text;
  ADVTK_CHECK(eq != std::string::npos && !value.empty(), option,
              ": expected none, noise=S, prune=P or dpsgd=C,Z");
  if (kind == "noise") {
    d.kind = DefenseKind::Noise;
    d.sigma = parse_number(value, option);
  } else if (kind == "prune") {
    d.kind = DefenseKind::Prune;
    d.prune_fraction = parse_number(value, option);
  } else if (kind == "dpsgd") {
    const std::vector<double> cz = parse_number_list(value, option);
    ADVTK_CHECK(cz.size() == 2, option, ": expected dpsgd=C,Z (clip norm, noise multiplier)");
    d.kind = DefenseKind::DpSgd;
    d.clip = cz[0];
    d.noise_multiplier = cz[1];
  } else {
    throw Error(option + ": expected none, noise=S, prune=P or dpsgd=C,Z");
  }
  validate_defense(d);
  return d;
}

LeakOptions to_leak_options(const LeakCliOptions& c) {
  LeakOptions o;
  o.attack = parse_attack(c.attack);
  o.batch_size = c.common.batch_size;
  o.defenses.clear();
  for (const std::string& d : c.defenses) o.defenses.push_back(parse_defense(d));
  o.protocol.local_steps = c.local_steps;
  o.protocol.local_lr = c.local_lr;
  o.seed = c.common.seed;
  ADVTK_CHECK(c.optimizer == "lbfgs" || c.optimizer == "adam",
              "--optimizer: expected lbfgs or adam, got '", c.optimizer, "'");
  if (o.attack == LeakAttack::InvertingGradients) {
    if (c.iterations) o.ig.iterations = *c.iterations;
    if (c.lr) o.ig.lr = *c.lr;
    o.ig.tv = c.tv;
    o.ig.restarts = c.restarts;
  } else {
    o.dlg.optimizer = c.optimizer == "adam" ? DlgOptimizer::Adam : DlgOptimizer::Lbfgs;
    o.dlg.lr = c.lr.value_or(o.dlg.optimizer == DlgOptimizer::Adam ? 0.1 : 1.0);
    o.dlg.iterations = c.iterations.value_or(
        o.dlg.optimizer == DlgOptimizer::Adam ? 4000 : DlgOptions{}.iterations);
  }
  return o;
}

nlohmann::json attack_options_json(const LeakOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  if (o.attack == LeakAttack::InvertingGradients) {
    j["iterations"] = o.ig.iterations;
    j["lr"] = o.ig.lr;
    j["tv"] = o.ig.tv;
    j["restarts"] = o.ig.restarts;
  } else if (o.attack != LeakAttack::Analytic) {
    j["optimizer"] = o.dlg.optimizer == DlgOptimizer::Adam ? "adam" : "lbfgs";
    j["iterations"] = o.dlg.iterations;
    j["lr"] = o.dlg.lr;
    j["restarts"] = o.dlg.restarts;
  }
  j["local_steps"] = o.protocol.local_steps;
  if (o.protocol.local_steps > 0) j["local_lr"] = o.protocol.local_lr;
  return j;
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

nlohmann::json run_json(const LeakRun& run, int64_t batch_size) {
  nlohmann::json j;
  j["defense"] = run.defense.name();
  j["batch_size"] = batch_size;
  j["utility_cosine"] = run.mean_utility_cosine;
  j["median_psnr"] = run.median_psnr;
  j["median_ssim"] = run.median_ssim;
  j["label_accuracy"] = run.label_accuracy;
  j["seconds"] = run.seconds;
  j["batches"] = nlohmann::json::array();
  for (const BatchLeak& b : run.batches) {
    nlohmann::json jb;
    jb["ids"] = b.ids;
    jb["psnr"] = b.psnr;
    jb["ssim"] = b.ssim;
    jb["mse"] = b.mse;
    jb["labels_true"] = to_vector(b.y);
    jb["labels_recovered"] = to_vector(b.y_rec);
    jb["gradient_distance"] = b.gradient_distance;
    jb["utility_cosine"] = b.utility_cosine;
    jb["seconds"] = b.seconds;
    j["batches"].push_back(jb);
  }
  return j;
}

torch::Tensor gather(const LeakRun& run, bool reconstructions, bool labels) {
  std::vector<torch::Tensor> parts;
  for (const BatchLeak& b : run.batches)
    parts.push_back(labels ? (reconstructions ? b.y_rec : b.y) : (reconstructions ? b.x_rec : b.x));
  return torch::cat(parts);
}

std::string format_db(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << v << " dB";
  return s.str();
}

void write_outputs(const LeakCliOptions& c, const LeakOptions& o, const std::vector<LeakRun>& runs,
                   const Dataset& data) {
  ensure_directory(c.out);
  nlohmann::json j = run_json(runs.front(), o.batch_size);
  j["attack"] = leak_attack_name(o.attack);
  j["model"] = c.model_path;
  j["data"] = data.source;
  j["seed"] = o.seed;
  j["options"] = attack_options_json(o);
  j["runs"] = nlohmann::json::array();
  for (const LeakRun& run : runs) j["runs"].push_back(run_json(run, o.batch_size));

  std::map<std::string, torch::Tensor> tensors;
  tensors["x"] = gather(runs.front(), false, false);
  tensors["y"] = gather(runs.front(), false, true);
  std::vector<int64_t> ids;
  for (const BatchLeak& b : runs.front().batches) ids.insert(ids.end(), b.ids.begin(), b.ids.end());
  tensors["ids"] = torch::tensor(ids);
  for (size_t r = 0; r < runs.size(); ++r) {
    const std::string suffix = r == 0 ? "" : "_" + std::to_string(r);
    tensors["x_rec" + suffix] = gather(runs[r], true, false);
    tensors["y_rec" + suffix] = gather(runs[r], true, true);
  }
  save_tensor_dict((fs::path(c.out) / "reconstruction.pt").string(), tensors);

  const int64_t shown = std::min<int64_t>(8, tensors["x"].size(0));
  std::vector<ImageRow> rows;
  ImageRow originals{"original", tensors["x"].narrow(0, 0, shown), {}};
  for (int64_t i = 0; i < shown; ++i)
    originals.captions.push_back("label " + std::to_string(tensors["y"][i].item<int64_t>()));
  rows.push_back(originals);
  for (const LeakRun& run : runs) {
    std::vector<double> psnr;
    for (const BatchLeak& b : run.batches) psnr.insert(psnr.end(), b.psnr.begin(), b.psnr.end());
    ImageRow row{run.defense.name(), gather(run, true, false).narrow(0, 0, shown), {}};
    for (int64_t i = 0; i < shown; ++i) row.captions.push_back(format_db(psnr[i]));
    rows.push_back(row);
  }
  write_png((fs::path(c.out) / "grid.png").string(), render_image_rows(rows));
  write_file_atomic((fs::path(c.out) / "leak.json").string(), j.dump(2) + "\n");
}

void print_table(const LeakOptions& o, const std::vector<LeakRun>& runs) {
  std::cout << leak_attack_name(o.attack) << ", batch size " << o.batch_size << "\n"
            << std::left << std::setw(18) << "defense" << std::right << std::setw(12)
            << "median PSNR" << std::setw(12) << "median SSIM" << std::setw(8) << "labels"
            << std::setw(10) << "utility" << std::setw(10) << "seconds"
            << "\n";
  for (const LeakRun& r : runs) {
    std::cout << std::left << std::setw(18) << r.defense.name() << std::right << std::fixed
              << std::setw(9) << std::setprecision(2) << r.median_psnr << " dB" << std::setw(12)
              << std::setprecision(3) << r.median_ssim << std::setw(7) << std::setprecision(1)
              << 100 * r.label_accuracy << "%" << std::setw(10) << std::setprecision(3)
              << r.mean_utility_cosine << std::setw(10) << std::setprecision(1) << r.seconds
              << "\n";
  }
  std::cout << "(utility: cosine between the shared and the undefended update)\n";
}

void run_leak_command(const LeakCliOptions& c) {
  apply_common(c.common);
  const Ranks ranks = join_ranks(c.out, "leak", c.force);
  LeakOptions o = to_leak_options(c);
  o.group = &ranks.group;
  const Dataset data = load_data(c.data, c.common.seed);
  Model model = load_model_for(
      c.model_path, to_model_options(c.model, device_for_rank(c.common.device, ranks.env)), data);
  ADVTK_CHECK(data.size() >= o.batch_size, "--batch-size ", o.batch_size, ": the data holds only ",
              data.size(), " examples (--limit)");
  if (data.size() % o.batch_size != 0 && ranks.leader())
    spdlog::warn("{} examples are not a whole number of batches of {}: the last {} are left out",
                 data.size(), o.batch_size, data.size() % o.batch_size);
  const int64_t batches = data.size() / o.batch_size;
  const auto [first, last] = share_of(batches * static_cast<int64_t>(o.defenses.size()),
                                      ranks.group.rank(), ranks.group.size());
  ProgressBar bar("leak " + leak_attack_name(o.attack), last - first,
                  show_progress(c.common) && ranks.leader());
  const std::vector<LeakRun> runs =
      run_leak(model, data, o, [&](int64_t done, int64_t) { bar.update(done); });
  bar.finish();
  if (!ranks.leader()) return;  // rank 0 writes the results and prints them
  write_outputs(c, o, runs, data);
  print_table(o, runs);
  std::cout << "wrote " << (fs::path(c.out) / "leak.json").string() << ", reconstruction.pt, "
            << "grid.png\n";
}

}  // namespace

void setup_leak_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<LeakCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "leak", "Reconstruct a client's private batch from its shared gradient (gradient exposure)");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_option("--attack", o->attack,
                  "analytic (first linear layer, closed form), idlg (labels read off the output "
                  "layer, then DLG), dlg (Zhu et al. 2019), ig (Geiping et al. 2020)")
      ->required();
  cmd->add_option("--defense", o->defenses,
                  "what the client does to its update, one run each: none, noise=S (Gaussian, "
                  "std S), prune=P (smallest fraction P zeroed), dpsgd=C,Z (clip C, noise "
                  "multiplier Z); repeatable")
      ->capture_default_str();
  cmd->add_option("--local-steps", o->local_steps,
                  "share the weight change after K local SGD steps instead of the gradient "
                  "(FedAvg); 0: the gradient")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--local-lr", o->local_lr, "learning rate of the local steps")
      ->capture_default_str();
  CLI::Option_group* opt =
      cmd->add_option_group("reconstruction", "the optimisation (dlg, idlg, ig)");
  opt->add_option("--iterations", o->iterations,
                  "optimiser steps (default: 300 L-BFGS steps for dlg/idlg, 4000 with adam; 4000 "
                  "for ig)")
      ->check(at_least(1));
  opt->add_option("--lr", o->lr, "step size (default: 1 for L-BFGS, 0.1 for Adam and ig)");
  opt->add_option("--optimizer", o->optimizer, "dlg/idlg: lbfgs (the authors') or adam")
      ->capture_default_str();
  opt->add_option("--tv", o->tv, "ig: weight of the total-variation prior")->capture_default_str();
  opt->add_option("--restarts", o->restarts,
                  "runs from new draws, the best gradient match kept (dlg/idlg stop at the first "
                  "that matches)")
      ->check(at_least(1))
      ->capture_default_str();
  cmd->add_option("--out", o->out, "output directory (leak.json, reconstruction.pt, grid.png)")
      ->capture_default_str();
  o->data.limit = 8;
  add_common_options(*cmd, o->common, 1);
  add_force_flag(*cmd, o->force);
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "The client's batches are consecutive --batch-size examples of the data (--limit, default "
      "8).\nExample:\n  advtk train --arch dlg-lenet --epochs 0 --out runs/dlg-lenet\n"
      "  advtk leak runs/dlg-lenet/model.pt --attack dlg --limit 4 --out runs/leak\n"
      "  advtk leak model.pt --attack ig --batch-size 8 --defense none --defense prune=0.5 "
      "--out runs/leak");
  cmd->callback([o, &exit_code] {
    run_leak_command(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
