// advtk masking MODEL --data … --eps E --out DIR: does this defense only mask gradients?
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/ranks.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/tensor_file.h"
#include "diagnostics/masking.h"
#include "eval/evaluation.h"

namespace advtk::cli {
namespace {

struct MaskingCliOptions {
  bool force = false;  // --force: write beside another command's results
  std::string model_path;
  std::string out = "runs/masking";
  std::string norm = "linf";
  std::string eps;
  int64_t points = 500;
  int64_t expensive_points = 100;
  int64_t pgd_steps = 50;
  int64_t apgd_steps = 100;
  int64_t queries = 5000;
  int64_t noise_draws = 10000;
  int64_t vote_passes = MaskingOptions{}.vote_passes;
  int64_t eot = 0;
  std::string surrogate;
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

void print_report(const MaskingReport& r) {
  std::printf("points        %lld clean-correct of %lld examples (clean accuracy %.2f%%)%s\n",
              static_cast<long long>(r.points), static_cast<long long>(r.examples_seen),
              100 * r.clean_accuracy, r.randomised ? ", randomised model: majority vote" : "");
  std::printf("\n%-3s %-26s %-6s %s\n", "#", "indicator", "fired", "evidence");
  bool attack_only = false;
  for (const Indicator& i : r.indicators) {
    const char* fired = !i.fired ? "no" : i.symptom ? "YES" : "YES*";
    attack_only = attack_only || (i.fired && !i.symptom);
    std::printf("%-3d %-26s %-6s %s\n", i.number, i.id.c_str(), fired, i.detail.c_str());
  }
  if (attack_only)
    std::printf("* a sign that the plain attack has not converged, not of masking\n");
  std::printf("\n%-4s %-38s %9s %9s %7s\n", "step", "retry (on points still robust)", "before",
              "after", "broken");
  for (const Retry& t : r.retries) {
    if (!t.skipped.empty()) {
      std::printf("%-4s %-38s skipped: %s\n", t.step.c_str(), t.attack.c_str(), t.skipped.c_str());
      continue;
    }
    std::printf("%-4s %-38s %8.2f%% %8.2f%% %7lld\n", t.step.c_str(), t.attack.c_str(),
                100 * t.accuracy_before, 100 * t.accuracy_after, static_cast<long long>(t.broken));
  }
  if (!r.bpda_blocked.empty()) std::printf("BPDA: %s\n", r.bpda_blocked.c_str());
  std::printf(
      "\nrobust accuracy  plain %s %.2f%%, after the adaptive ladder %.2f%%, over every "
      "attack of the check %.2f%%\n",
      r.baseline.c_str(), 100 * r.pgd_accuracy, 100 * r.adaptive_accuracy,
      100 * r.worst_case_accuracy);
  std::printf("verdict          %s: %s\n", verdict_name(r.verdict).c_str(), r.message.c_str());
}

int run_masking(const MaskingCliOptions& o) {
  apply_common(o.common);
  const Ranks ranks = join_ranks(o.out, "masking", o.force);
  ADVTK_CHECK(!o.eps.empty(), "--eps: give the budget to check, e.g. --eps 0.1 or --eps 8/255");
  const Dataset data = load_data(o.data, o.common.seed);
  const ModelOptions model_options =
      to_model_options(o.model, device_for_rank(o.common.device, ranks.env));
  ADVTK_CHECK(!model_options.bpda,
              "--bpda: the masking check runs BPDA itself as a retry; give "
              "only --preprocess");
  const Model model = load_model_for(o.model_path, model_options, data);
  const int64_t nonfinite = count_nonfinite_outputs(model, data, o.common.batch_size);
  if (nonfinite > 0) spdlog::warn("{}", nonfinite_outputs_warning(nonfinite, data.size()));
  MaskingOptions m;
  m.threat.norm = parse_norm(o.norm);
  m.threat.eps = parse_number(o.eps, "--eps");
  m.threat.lo = model_options.input_lo;
  m.threat.hi = model_options.input_hi;
  ADVTK_CHECK(m.threat.eps > 0, "--eps: expected a budget > 0, got ", o.eps);
  m.points = o.points;
  m.expensive_points = o.expensive_points;
  m.batch_size = o.common.batch_size;
  m.pgd_steps = o.pgd_steps;
  m.apgd_steps = o.apgd_steps;
  m.square_queries = o.queries;
  m.noise_draws = o.noise_draws;
  m.vote_passes = o.vote_passes;
  m.eot_samples = o.eot;
  m.seed = o.common.seed;
  m.group = &ranks.group;
  std::optional<Model> surrogate, bpda;
  if (!o.surrogate.empty()) {
    surrogate = load_surrogate(o.surrogate, model_options, data);
    m.surrogate = &*surrogate;
  }
  if (model_options.preprocess && !model_options.bpda) {
    ModelOptions b = model_options;
    b.bpda = true;
    bpda = load_model_for(o.model_path, b, data);
    m.bpda_model = &*bpda;
  }
  ensure_directory(o.out);

  const MaskingReport report = detect_masking(model, data, m, [&](const std::string& stage) {
    if (show_progress(o.common) && ranks.leader()) spdlog::info("{}", stage);
  });
  const int exit_code = report.verdict == Verdict::NoEvidence ? 0 : 3;
  if (!ranks.leader()) return exit_code;  // rank 0 writes and prints
  nlohmann::json j = to_json(report);
  j["model"] = o.model_path;
  j["data"] = data.source;
  j["norm"] = o.norm;
  j["eps"] = m.threat.eps;
  j["seed"] = o.common.seed;
  j["preprocess"] = o.model.preprocess;
  j["surrogate"] = o.surrogate;
  j["nonfinite_outputs"] = nonfinite;
  namespace fs = std::filesystem;
  write_file_atomic((fs::path(o.out) / "masking.json").string(), j.dump(2) + "\n");
  if (report.found_index.defined() && report.found_index.numel() > 0) {
    save_tensor_dict((fs::path(o.out) / "found.pt").string(), {{"index", report.found_index},
                                                               {"x_adv", report.found_x},
                                                               {"y", report.found_y},
                                                               {"pred_adv", report.found_pred}});
  }
  print_report(report);
  return exit_code;
}

}  // namespace

void setup_masking_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MaskingCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "masking", "Does this defense only mask gradients? Indicators, adaptive retries, a verdict");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_option("--eps", o->eps, "budget (fractions allowed, e.g. 8/255)");
  cmd->add_option("--norm", o->norm, "linf, l2 or l1")->capture_default_str();
  cmd->add_option("--out", o->out, "output directory (masking.json, found.pt)")
      ->capture_default_str();
  cmd->add_option("--points", o->points, "clean-correct points for the cheap checks")
      ->capture_default_str();
  cmd->add_option("--expensive-points", o->expensive_points,
                  "points for the costly checks (Square, noise, unbounded, budget growth)")
      ->capture_default_str();
  cmd->add_option("--pgd-steps", o->pgd_steps, "steps of the plain PGD baseline")
      ->capture_default_str();
  cmd->add_option("--apgd-steps", o->apgd_steps, "iterations of the APGD retries")
      ->capture_default_str();
  cmd->add_option("--queries", o->queries, "Square's query budget")->capture_default_str();
  cmd->add_option("--noise-draws", o->noise_draws, "random draws per point (indicator 11)")
      ->capture_default_str();
  cmd->add_option("--vote-passes", o->vote_passes,
                  "randomised models: passes of the majority vote (odd)")
      ->capture_default_str();
  cmd->add_option("--eot", o->eot, "EOT samples for R2 (default: measured, at least 20)");
  cmd->add_option("--surrogate", o->surrogate,
                  "a model to transfer attacks from (indicator 8, R6)");
  add_common_options(*cmd, o->common, 250);
  add_force_flag(*cmd, o->force);
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Exit code 3 when masking is confirmed (masked) or suspected (suspect).\n"
      "Example:\n  advtk masking defended.pt --data fashion-mnist --eps 0.1 --out runs/masking\n"
      "  advtk masking model.pt --preprocess front.pt --eps 8/255 --out runs/masking");
  cmd->callback([o, &exit_code] { exit_code = run_masking(*o); });
}

}  // namespace advtk::cli
