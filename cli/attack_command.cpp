// advtk attack MODEL --data ... --attack ... --eps ... --out DIR: adversarial example sets.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>

#include "attacks/attack_runner.h"
#include "attacks/autoattack_checks.h"
#include "attacks/registry.h"
#include "attacks/transfer.h"
#include "audit/example_set.h"
#include "cli/attack_flags.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress_bar.h"
#include "cli/values.h"
#include "core/error.h"
#include "core/file_io.h"
#include "eval/evaluation.h"

namespace advtk::cli {
namespace {

struct AttackCliOptions {
  bool force = false;  // --force: write beside another command's results
  std::string model_path;
  std::string attack = "pgd";
  std::optional<std::string> norm;  // default: the attack's first norm (pgd linf, cw/deepfool l2)
  std::string eps;                  // comma-separated, fractions allowed
  std::string target;               // random | least-likely | CLASS
  AttackFlags attack_options;
  std::string surrogate;
  std::string out = "runs/attack";
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

TargetSpec parse_target(const std::string& text) {
  TargetSpec t;
  if (text.empty()) return t;
  if (text == "random") {
    t.mode = TargetMode::Random;
  } else if (text == "least-likely") {
    t.mode = TargetMode::LeastLikely;
  } else {
    char* end = nullptr;
    const long long c = std::strtoll(text.c_str(), &end, 10);
    ADVTK_CHECK(!text.empty() && end == text.c_str() + text.size() && c >= 0, "--target: expected ",
                "random, least-likely or a class number, got '", text, "'");
    t.mode = TargetMode::Fixed;
    t.fixed_class = c;
  }
  return t;
}

std::string cell(const nlohmann::json& v, double scale = 1.0, int precision = 4) {
  if (v.is_null()) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v.get<double>() * scale;
  return s.str();
}

void run_attack_command(const AttackCliOptions& o) {
  apply_common(o.common);
  claim_output_folder(o.out, "attack", o.force);
  const Dataset data = load_data(o.data, o.common.seed);
  const ModelOptions model_options = to_model_options(o.model, o.common.device);
  const Model model = load_model_for(o.model_path, model_options, data);
  const AttackInfo info = describe_attack(o.attack);
  const int64_t nonfinite = count_nonfinite_outputs(model, data, o.common.batch_size);
  if (nonfinite > 0) spdlog::warn("{}", nonfinite_outputs_warning(nonfinite, data.size()));
  OptionValues given = given_options(o.attack_options);
  check_options_apply(o.attack, given);
  const bool early_stop = !given.has("early-stop") || given.flag("early-stop");

  std::vector<double> budgets;
  if (!o.eps.empty()) budgets = parse_number_list(o.eps, "--eps");
  for (double e : budgets) ADVTK_CHECK(e >= 0, "--eps: expected budgets >= 0, got ", e);
  ADVTK_CHECK(info.minimum_norm || !budgets.empty(), "--eps: ", info.name,
              " needs a budget, e.g. --eps 0.1 or --eps 8/255 or --eps 0.05,0.1");

  AttackSetup setup;
  setup.threat.norm = o.norm ? parse_norm(*o.norm) : info.norms.front();
  setup.threat.lo = model_options.input_lo;
  setup.threat.hi = model_options.input_hi;
  setup.seed = o.common.seed;
  std::optional<Model> surrogate;
  if (!o.surrogate.empty()) {
    surrogate = load_surrogate(o.surrogate, model_options, data);
    // Every step raises the surrogate's loss: the first point that fools the surrogate is barely
    // across its boundary, and seldom across the target's.
    given.set("early-stop", false);
  }
  const auto build = [&]() -> std::unique_ptr<Attack> {
    auto attack = make_attack(o.attack, setup, given);
    if (surrogate) return std::make_unique<TransferAttack>(std::move(attack), *surrogate);
    return attack;
  };
  setup.threat.eps = budgets.empty() ? 0.0 : budgets.front();
  build();  // validates the options before any work

  AttackRunOptions run_options;
  run_options.batch_size = o.common.batch_size;
  run_options.skip_misclassified = early_stop;
  run_options.target = parse_target(o.target);
  run_options.seed = o.common.seed;
  ADVTK_CHECK(info.targeted || run_options.target.mode == TargetMode::None, "--target: ", info.name,
              " is untargeted");

  // AutoAttack's own sanity checks around its suites (checks.py), as warnings.
  const bool autoattack = info.preset;  // every preset is one of AutoAttack's suites
  std::vector<SanityCheck> checks;
  if (autoattack) checks = autoattack_checks(model, data, o.common.batch_size);
  for (const SanityCheck& c : checks)
    if (c.warning) spdlog::warn("{}: {}", c.id, c.message);

  ProgressBar bar(o.attack, data.size(), show_progress(o.common));
  double shown_eps = -1;
  const auto progress = [&](int64_t done, int64_t total, double eps) {
    if (eps != shown_eps) {
      bar.reset(o.attack + (info.minimum_norm ? "" : " eps " + concat(eps)), total);
      shown_eps = eps;
    }
    bar.update(done);
  };
  const std::vector<AttackRun> runs = run_attack(
      model, data,
      [&](double eps) {
        setup.threat.eps = eps;
        return build();
      },
      info.minimum_norm ? std::vector<double>{0.0} : budgets, run_options, progress);
  bar.finish();

  const bool several = runs.size() > 1;
  nlohmann::json top;
  std::vector<nlohmann::json> summaries;
  for (const AttackRun& run : runs) {
    nlohmann::json s = summarize_run(run, info.minimum_norm, budgets);
    s["nonfinite_outputs"] = nonfinite;
    if (autoattack) {
      std::vector<SanityCheck> all = checks;
      const nlohmann::json& parts = run.parameters["attacks"];
      for (size_t k = 0; k < parts.size(); ++k) {
        if (parts[k].value("attack", std::string()) != "square") continue;
        // The examples still robust when Square started: none of the attacks before it broke.
        const torch::Tensor attacked =
            run.clean_pred.eq(run.y) &
            (run.broken_by.lt(0) | run.broken_by.ge(static_cast<int64_t>(k)));
        all.push_back(square_check(
            (run.broken_by.eq(static_cast<int64_t>(k)) & attacked).sum().item<int64_t>(),
            attacked.sum().item<int64_t>()));
        if (all.back().warning)
          spdlog::warn("eps {}: {}: {}", concat(run.eps), all.back().id, all.back().message);
      }
      s["checks"] = to_json(all);
    }
    s["seed"] = o.common.seed;
    s["model"] = o.model_path;
    s["data"] = data.source;
    const std::string dir =
        several ? (std::filesystem::path(o.out) / ("eps-" + concat(run.eps))).string() : o.out;
    write_example_set(dir, run, data, s);
    summaries.push_back(s);
  }
  if (several) {
    top = {{"attack", o.attack}, {"budgets", summaries}, {"seed", o.common.seed}};
    write_file_atomic((std::filesystem::path(o.out) / "summary.json").string(), top.dump(2) + "\n");
  }

  std::cout << std::left << std::setw(10) << "eps" << std::right << std::setw(8) << "clean%"
            << std::setw(9) << "robust%" << std::setw(9) << "success%" << std::setw(10) << "med L2"
            << std::setw(10) << "med Linf" << std::setw(9) << "seconds" << std::setw(10)
            << "forward" << std::setw(10) << "backward"
            << "\n";
  const auto row = [&](const std::string& eps, const nlohmann::json& s,
                       const nlohmann::json& robust) {
    std::cout << std::left << std::setw(10) << eps << std::right << std::setw(8)
              << cell(s["clean_accuracy"], 100, 2) << std::setw(9) << cell(robust, 100, 2)
              << std::setw(9) << cell(s["success_rate"], 100, 2) << std::setw(10)
              << cell(s["median_l2"]) << std::setw(10) << cell(s["median_linf"]) << std::setw(9)
              << cell(s["seconds"], 1, 2) << std::setw(10) << s["forward_calls"].get<int64_t>()
              << std::setw(10) << s["backward_calls"].get<int64_t>() << "\n";
  };
  for (const auto& s : summaries) {
    if (info.minimum_norm) {
      row("min-norm", s, s["robust_accuracy"]);
      if (s.contains("robust_accuracy_at"))
        for (const auto& at : s["robust_accuracy_at"])
          row(concat(at["eps"].get<double>()), s, at["robust_accuracy"]);
    } else {
      row(concat(s["eps"].get<double>()), s, s["robust_accuracy"]);
    }
  }
  std::cout << "examples written to " << o.out << "\n";
}

}  // namespace

void setup_attack_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<AttackCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("attack", "Attack a model and write the adversarial example set");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  std::string attacks;
  for (const auto& a : attack_registry()) attacks += "\n    " + a.name + ": " + a.description;
  attacks += "\n    a,b,c: an ensemble, each attack on what the earlier ones left robust";
  cmd->add_option("--attack", o->attack, "attack:" + attacks)->capture_default_str();
  cmd->add_option("--norm", o->norm, "linf, l2 or l1 (default: linf, or l2 for cw and deepfool)");
  cmd->add_option("--eps", o->eps,
                  "budget(s) in the model's pixel range: 0.1, 8/255 or 0.05,0.1,0.2");
  cmd->add_option("--target", o->target, "targeted attack: random, least-likely or a class number");
  add_attack_flags(*cmd, o->attack_options);
  cmd->add_option("--surrogate", o->surrogate,
                  "transfer: craft the examples on this TorchScript model, judge them on MODEL");
  cmd->add_option("--out", o->out, "output directory")->capture_default_str();
  add_common_options(*cmd, o->common, 250);
  add_force_flag(*cmd, o->force);
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Examples:\n  advtk attack model.pt --data fashion-mnist --limit 1000 --attack pgd --eps 0.1 "
      "--out runs/pgd\n"
      "  advtk attack model.pt --attack pgd --norm l2 --eps 0.5,1,2 --restarts 5\n"
      "  advtk attack model.pt --attack cw --eps 0.5,1 --out runs/cw\n"
      "  advtk attack model.pt --attack deepfool --norm linf\n"
      "  advtk attack model.pt --attack autoattack --eps 0.1 --limit 1000\n"
      "  advtk attack model.pt --attack apgd,square --eps 8/255");
  cmd->callback([o, &exit_code] {
    run_attack_command(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
