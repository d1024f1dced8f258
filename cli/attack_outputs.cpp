#include "cli/attack_outputs.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "attacks/autoattack_checks.h"
#include "audit/example_set.h"
#include "core/error.h"
#include "core/file_io.h"

namespace advtk::cli {
namespace {

std::string cell(const nlohmann::json& v, double scale = 1.0, int precision = 4) {
  if (v.is_null()) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v.get<double>() * scale;
  return s.str();
}

}  // namespace

void write_attack_outputs(const AttackOutputs& c, const std::vector<AttackRun>& runs,
                          const Dataset& data, const RowsOf& rows_of) {
  const bool several = runs.size() > 1;
  nlohmann::json top;
  std::vector<nlohmann::json> summaries;
  for (const AttackRun& run : runs) {
    nlohmann::json s = summarize_run(run, c.minimum_norm, c.budgets);
    s["nonfinite_outputs"] = c.nonfinite_outputs;
    if (c.preset) {
      nlohmann::json all = c.checks;
      const nlohmann::json& parts = run.parameters["attacks"];
      for (size_t k = 0; k < parts.size(); ++k) {
        if (parts[k].value("attack", std::string()) != "square") continue;
        // The examples still robust when Square started: none of the attacks before it broke.
        const torch::Tensor attacked =
            run.clean_pred.eq(run.y) &
            (run.broken_by.lt(0) | run.broken_by.ge(static_cast<int64_t>(k)));
        const SanityCheck square = square_check(
            (run.broken_by.eq(static_cast<int64_t>(k)) & attacked).sum().item<int64_t>(),
            attacked.sum().item<int64_t>());
        all.push_back(to_json({square})[0]);
        if (square.warning)
          spdlog::warn("eps {}: {}: {}", concat(run.eps), square.id, square.message);
      }
      s["checks"] = all;
    }
    s["seed"] = c.seed;
    s["model"] = c.model_path;
    s["data"] = data.source;
    const std::string dir =
        several ? (std::filesystem::path(c.out) / ("eps-" + concat(run.eps))).string() : c.out;
    std::unique_ptr<AdversarialRows> rows;
    if (!run.x_adv.defined()) rows = rows_of(run);
    write_example_set(dir, run, data, s, rows.get());
    summaries.push_back(s);
  }
  if (several) {
    top = {{"attack", c.attack}, {"budgets", summaries}, {"seed", c.seed}};
    write_file_atomic((std::filesystem::path(c.out) / "summary.json").string(), top.dump(2) + "\n");
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
    if (c.minimum_norm) {
      row("min-norm", s, s["robust_accuracy"]);
      if (s.contains("robust_accuracy_at"))
        for (const auto& at : s["robust_accuracy_at"])
          row(concat(at["eps"].get<double>()), s, at["robust_accuracy"]);
    } else {
      row(concat(s["eps"].get<double>()), s, s["robust_accuracy"]);
    }
  }
  std::cout << "examples written to " << c.out << "\n";
}

}  // namespace advtk::cli
