// advtk audit MODEL --data … --out DIR: a full robustness audit as report.json, report.md and a
// self-contained report.html.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "attacks/threat_model.h"
#include "audit/audit.h"
#include "audit/report.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/floor.h"
#include "cli/kill_point.h"
#include "cli/progress_bar.h"
#include "cli/ranks.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/sha256.h"

namespace advtk::cli {
namespace {

struct AuditCliOptions {
  bool force = false;  // --force: write beside another command's results
  std::string model_path;
  std::string out = "runs/audit";
  std::string budget = "standard";
  std::string norm = "linf";
  std::string eps;
  std::string main_eps;
  std::string skip;
  std::string fail_under;
  std::string surrogate;
  std::string train_data;  // a data spec: the training set the training-security stage scans
  bool resume = false;
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

// "0.7" or "70%".
double parse_accuracy(const std::string& text) {
  const bool percent = !text.empty() && text.back() == '%';
  double v = parse_number(percent ? text.substr(0, text.size() - 1) : text, "--fail-under");
  if (percent) v /= 100;
  ADVTK_CHECK(v >= 0 && v <= 1, "--fail-under: expected an accuracy in [0, 1] or a percentage, ",
              "got '", text, "'");
  return v;
}

// Seconds for one forward+backward pass per example: the floor on one batch, the second of two
// runs so that the first's warm-up does not count.
double seconds_per_pass(const Model& model, const Dataset& data, int64_t batch_size) {
  const int64_t m = std::min(batch_size, data.size());
  const torch::Tensor x = model.from_unit_range(data.images.narrow(0, 0, m));
  const torch::Tensor y = data.labels.narrow(0, 0, m);
  floor_seconds(model, x, y, m);
  return floor_seconds(model, x, y, m) / static_cast<double>(m);
}

void print_summary(const nlohmann::json& r) {
  std::printf("%-12s", "attack");
  for (const auto& e : r["settings"]["eps"])
    std::printf(" %10s", ("eps " +
                          [&] {
                            char b[32];
                            std::snprintf(b, sizeof(b), "%g", e.get<double>());
                            return std::string(b);
                          }())
                             .c_str());
  std::printf("\n%-12s", "clean");
  for (size_t i = 0; i < r["settings"]["eps"].size(); ++i)
    std::printf(" %9.2f%%", 100 * r["clean_accuracy"].get<double>());
  std::string current;
  for (const auto& a : r["attacks"]) {
    if (a["attack"] != current) {
      current = a["attack"].get<std::string>();
      std::printf("\n%-12s", current.c_str());
    }
    std::printf(" %9.2f%%", 100 * a["robust_accuracy"].get<double>());
  }
  std::printf("\n%-12s", "worst case");
  for (const auto& w : r["worst_case"])
    std::printf(" %9.2f%%", 100 * w["robust_accuracy"].get<double>());
  std::printf("\n\n");
  const auto number = [](const nlohmann::json& v) {
    if (!v.is_number()) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof(b), "%.4g", v.get<double>());
    return std::string(b);
  };
  for (const auto& m : r["min_norm"]) {
    std::printf("min-norm %-9s %-4s median %s over %s points (%s not broken)\n",
                m["attack"].get<std::string>().c_str(), m["norm"].get<std::string>().c_str(),
                number(m["median"]).c_str(), m["points"].dump().c_str(),
                m["failed"].dump().c_str());
  }
  if (!r["masking"].value("skipped", false)) {
    std::printf("masking      %s: %s\n", r["masking"]["verdict"].get<std::string>().c_str(),
                r["masking"]["message"].get<std::string>().c_str());
  } else {
    std::printf("masking      skipped: %s\n", r["masking"].value("reason", "").c_str());
  }
  for (const auto& f : r["numerical"]["flags"])
    std::printf("numerical    %s\n", f.get<std::string>().c_str());
  const nlohmann::json& s = r["sharpness"];
  if (!s.value("skipped", false)) {
    std::printf("sharpness    top Hessian eigenvalue %s; loss increase at rho %s: %s\n",
                number(s["top_hessian_eigenvalue"]).c_str(),
                number(s["weight_perturbation"][0]["rho"]).c_str(),
                number(s["weight_perturbation"][0]["mean_loss_increase"]).c_str());
  } else {
    std::printf("sharpness    skipped: %s\n", s.value("reason", "").c_str());
  }
  const nlohmann::json& g = r.value("gradient_exposure", nlohmann::json::object());
  if (g.contains("summary"))
    std::printf("leakage      %s\n", g["summary"].get<std::string>().c_str());
  else if (g.value("skipped", false))
    std::printf("leakage      skipped: %s\n", g.value("reason", "").c_str());
  const nlohmann::json& t = r.value("training_security", nlohmann::json::object());
  if (t.contains("summary"))
    std::printf("backdoor     %s\n", t["summary"].get<std::string>().c_str());
  else if (t.value("skipped", false))
    std::printf("backdoor     skipped: %s\n", t.value("reason", "").c_str());
  std::printf("gate         %s\n", r["gate"]["message"].get<std::string>().c_str());
}

int run_audit_command(const AuditCliOptions& o) {
  apply_common(o.common);
  const Ranks ranks = join_ranks(o.out, "audit", o.force);
  AuditOptions a;
  a.budget = parse_audit_budget(o.budget);
  a.plan = audit_plan(a.budget);
  a.norm = parse_norm(o.norm);
  if (!o.eps.empty()) a.eps = parse_number_list(o.eps, "--eps");
  // As the audit checks them, but before the time estimate is printed.
  for (double e : a.eps)
    ADVTK_CHECK(std::isfinite(e) && e > 0, "--eps: expected finite budgets > 0, got ", e);
  if (!o.main_eps.empty()) a.main_eps = parse_number(o.main_eps, "--main-eps");
  for (const std::string& s : split(o.skip, ','))
    if (!s.empty()) a.skip.insert(s);
  check_skip_keys(a.skip);
  const std::optional<double> fail_under =
      o.fail_under.empty() ? std::nullopt : std::optional<double>(parse_accuracy(o.fail_under));
  DataOptions data_options = o.data;
  if (data_options.limit < 0) data_options.limit = a.plan.default_examples;
  const Dataset data = load_data(data_options, o.common.seed);
  const ModelOptions model_options =
      to_model_options(o.model, device_for_rank(o.common.device, ranks.env));
  ADVTK_CHECK(!model_options.bpda,
              "--bpda: the audit's masking check runs BPDA itself; give only --preprocess");
  const Model model = load_model_for(o.model_path, model_options, data);
  std::optional<Model> surrogate, bpda;
  if (!o.surrogate.empty()) {
    surrogate = load_surrogate(o.surrogate, model_options, data);
    a.surrogate = &*surrogate;
  }
  if (model_options.preprocess) {
    ModelOptions b = model_options;
    b.bpda = true;
    bpda = load_model_for(o.model_path, b, data);
    a.bpda_model = &*bpda;
  }
  std::optional<Dataset> train;
  if (!o.train_data.empty()) {
    train = load_dataset(parse_data_source(o.train_data, "train"));
    ADVTK_CHECK(train->images.sizes().slice(1) == data.images.sizes().slice(1), "--train-data ",
                o.train_data, ": images of another shape than the audit data's");
    a.train_data = &*train;
  }
  a.batch_size = o.common.batch_size;
  a.seed = o.common.seed;
  a.out = o.out;
  a.resume = o.resume;
  a.group = &ranks.group;
  // Rank 0's store is the one a single process keeps; the others keep theirs beside it.
  if (!ranks.leader())
    a.store_dir =
        (std::filesystem::path(o.out) / "ranks" / ("rank-" + std::to_string(ranks.env.rank)))
            .string();
  a.model_info = {
      {"path", o.model_path},
      {"sha256", sha256_file(o.model_path)},
      {"bytes", std::filesystem::file_size(o.model_path)},
      {"preprocess", o.model.preprocess},
      {"preprocess_sha256", o.model.preprocess.empty() ? "" : sha256_file(o.model.preprocess)},
      {"surrogate", o.surrogate},
      {"mean", o.model.mean},
      {"std", o.model.std}};
  ensure_directory(o.out);

  if (a.eps.empty()) {  // the defaults, resolved here too so that the estimate counts them
    const std::vector<int64_t> shape(data.images.sizes().begin() + 1, data.images.sizes().end());
    a.eps = default_audit_budgets(a.norm, shape, model_options.input_hi - model_options.input_lo);
  }
  // Before any stage runs (and stores its results), as the attack stages would refuse it later.
  if (data.size() > 0)
    for (double e : a.eps)
      check_budget_within_box(e, a.norm, model_options.input_hi - model_options.input_lo,
                              data.images[0].numel());
  const double per_pass = seconds_per_pass(model, data, a.batch_size);
  const double estimate = per_pass * audit_work_estimate(a, data.size(), data.num_classes());
  const double adaptive =
      per_pass * audit_adaptive_work_estimate(a, data.size(), data.num_classes());
  if (!o.common.quiet && ranks.leader()) {
    std::fprintf(stderr,
                 "audit (%s) of %s on %lld examples: at most about %s (upper bound: every example "
                 "attacked for every step; early stopping makes it shorter; %.3g ms per "
                 "forward+backward example pass)\n",
                 o.budget.c_str(), o.model_path.c_str(), static_cast<long long>(data.size()),
                 format_duration(estimate).c_str(), 1000 * per_pass);
    if (adaptive > 0)
      std::fprintf(stderr,
                   "  and up to %s more if the masking check finds masking (its adaptive attacks "
                   "then run on the examples the others left robust, at every budget)\n",
                   format_duration(adaptive).c_str());
  }

  ProgressBar bar("", 0, show_progress(o.common) && ranks.leader());
  std::string shown;
  const auto progress = [&](const std::string& stage, int index, int count, int64_t done,
                            int64_t total) {
    const std::string label =
        "[" + std::to_string(index) + "/" + std::to_string(count) + "] " + stage;
    if (label != shown) {
      if (!shown.empty()) bar.finish();
      bar.reset(label, std::max<int64_t>(total, 1));
      shown = label;
      if (!show_progress(o.common) && !o.common.quiet) spdlog::info("{}", label);
    }
    if (total > 0) bar.update(done);
  };
  const KillPoint kill = KillPoint::from_environment();
  int saves = 0;
  const auto saved = [&](const std::string& name) {
    ++saves;
    spdlog::debug("saved {} (save {})", name, saves);
    kill.check("save", std::to_string(saves));
    kill.check("after", name);
  };
  AuditResult result = run_audit(model, data, a, progress, saved);
  if (!shown.empty()) bar.finish();

  nlohmann::json& r = result.report;
  const std::string verdict = r["masking"].value("verdict", "skipped");
  const bool masked = verdict == "masked" || verdict == "suspect";
  const bool below = fail_under && r["main_robust_accuracy"].get<double>() < *fail_under;
  std::string message = below ? "FAILED: robust accuracy " : "robust accuracy ";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f%% at eps %g", 100 * r["main_robust_accuracy"].get<double>(),
                r["main_eps"].get<double>());
  message += buf;
  if (fail_under) {
    std::snprintf(buf, sizeof(buf), " (required: at least %.2f%%)", 100 * *fail_under);
    message += buf;
  }
  if (masked) message += "; FAILED: gradient masking " + verdict;
  const int exit_code = below || masked ? 3 : 0;
  r["gate"] = {{"fail_under", fail_under ? nlohmann::json(*fail_under) : nlohmann::json(nullptr)},
               {"main_robust_accuracy", r["main_robust_accuracy"]},
               {"masking_verdict", verdict},
               {"passed", exit_code == 0},
               {"exit_code", exit_code},
               {"message", message}};

  if (!ranks.leader()) return exit_code;  // rank 0 writes the report and prints
  namespace fs = std::filesystem;
  for (const auto& [name, bytes] : result.files)
    write_file_atomic((fs::path(o.out) / name).string(), bytes);
  write_file_atomic((fs::path(o.out) / "report.json").string(), r.dump(2) + "\n");
  kill.check("report");
  const auto blocks = build_report(r, result.files);
  write_file_atomic((fs::path(o.out) / "report.md").string(), render_markdown(blocks));
  write_file_atomic((fs::path(o.out) / "report.html").string(),
                    render_html(blocks, "advtk audit: " + o.model_path, result.files));
  print_summary(r);
  std::printf("report       %s/report.html (also report.md, report.json)\n", o.out.c_str());
  return exit_code;
}

}  // namespace

void setup_audit_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<AuditCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "audit",
      "Full robustness audit: attacks, min-norm, masking, numerics, sharpness, gradient leakage, "
      "backdoors → report");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_option("--out", o->out, "output directory (report.json, report.md, report.html)")
      ->capture_default_str();
  cmd->add_option("--budget", o->budget,
                  "quick (200 examples, reduced attacks), standard (1,000 examples, the papers' "
                  "parameters) or thorough (10,000 examples, restarts, more queries)")
      ->capture_default_str();
  cmd->add_option("--norm", o->norm, "linf, l2 or l1")->capture_default_str();
  cmd->add_option("--eps", o->eps,
                  "budgets, e.g. 0.05,0.1,0.2 or 2/255,8/255 (default: from the input's size and "
                  "colour: Linf 0.05,0.1,0.2 for grey images, 2-16/255 for colour)");
  cmd->add_option("--main-eps", o->main_eps, "the budget the gate reads (default: the middle one)");
  cmd->add_option("--skip", o->skip, [] {
    std::string keys;
    for (const std::string& k : audit_skip_keys()) keys += (keys.empty() ? "" : ", ") + k;
    return "sections to leave out, comma-separated: " + keys;
  }());
  cmd->add_option("--fail-under", o->fail_under,
                  "exit 3 when the worst-case robust accuracy at the main budget is below this "
                  "(0.7 or 70%)");
  cmd->add_option("--surrogate", o->surrogate, "a model to transfer attacks from (masking)");
  cmd->add_option("--train-data", o->train_data,
                  "the model's training set (a data spec): the training-security stage scans it "
                  "for poisoned groups");
  cmd->add_flag("--resume", o->resume, "continue an interrupted audit in --out");
  add_common_options(*cmd, o->common, 250);
  add_force_flag(*cmd, o->force);
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Exit code 3 when --fail-under is not met or gradient masking is found (masked or suspect).\n"
      "--limit defaults to the budget's example count. Examples:\n"
      "  advtk audit model.pt --data fashion-mnist --budget quick --out runs/audit\n"
      "  advtk audit model.pt --data cifar10:DIR --norm linf --eps 8/255 --fail-under 40%\n"
      "  advtk audit model.pt --out runs/audit --resume");
  cmd->callback([o, &exit_code] { exit_code = run_audit_command(*o); });
}

}  // namespace advtk::cli
