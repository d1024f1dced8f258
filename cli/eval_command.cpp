// advtk eval MODEL --data ...: clean accuracy, per-class accuracy and the confusion matrix.
#include <spdlog/spdlog.h>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress_bar.h"
#include "cli/ranks.h"
#include "diagnostics/masking.h"
#include "eval/evaluation.h"

namespace advtk::cli {
namespace {

struct EvalOptions {
  std::string model_path;
  bool json = false;
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

nlohmann::json nullable(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

void print_text(const EvaluationResult& r, const Dataset& data) {
  if (r.passes > 1) {
    std::cout << std::fixed << std::setprecision(2) << "randomised model (outputs change between "
              << "passes): expected accuracy of one pass " << 100 * r.accuracy << "% over "
              << r.passes << " passes per example; correct by a majority of them "
              << 100 * r.majority_accuracy << "% (" << r.correct << "/" << r.examples
              << ")  mean cross-entropy " << std::setprecision(4) << r.mean_loss << "\n\n";
  } else {
    std::cout << std::fixed << std::setprecision(2) << "accuracy " << 100 * r.accuracy << "% ("
              << r.correct << "/" << r.examples << ")  mean cross-entropy " << std::setprecision(4)
              << r.mean_loss << "\n\n";
  }
  const int64_t k = r.confusion.size(0);
  size_t name_width = 5;
  for (int64_t c = 0; c < k; ++c) name_width = std::max(name_width, data.class_name(c).size());
  std::cout << std::left << std::setw(static_cast<int>(name_width) + 2) << "class" << std::right
            << std::setw(9) << "accuracy" << std::setw(8) << "n"
            << "\n";
  const torch::Tensor totals = r.confusion.sum(1);
  for (int64_t c = 0; c < k; ++c) {
    std::cout << std::left << std::setw(static_cast<int>(name_width) + 2) << data.class_name(c)
              << std::right << std::setw(8) << std::setprecision(2);
    if (std::isnan(r.per_class_accuracy[c])) {
      std::cout << "-"
                << " ";
    } else {
      std::cout << 100 * r.per_class_accuracy[c] << "%";
    }
    std::cout << std::setw(8) << totals[c].item<int64_t>() << "\n";
  }
  std::cout << "\nconfusion (rows: true class, columns: predicted)\n      ";
  for (int64_t c = 0; c < k; ++c) std::cout << std::setw(6) << c;
  std::cout << "\n";
  for (int64_t t = 0; t < k; ++t) {
    std::cout << std::setw(6) << t;
    for (int64_t p = 0; p < k; ++p) std::cout << std::setw(6) << r.confusion[t][p].item<int64_t>();
    std::cout << "\n";
  }
}

void run_eval(const EvalOptions& o) {
  apply_common(o.common);
  const Ranks ranks = join_ranks("", "eval", false);
  const Dataset data = load_data(o.data, o.common.seed);
  const Model model = load_model_for(
      o.model_path, to_model_options(o.model, device_for_rank(o.common.device, ranks.env)), data);
  // A randomised model's accuracy is an expectation: the majority rule of the masking check.
  const int64_t passes =
      outputs_vary(model, data, o.common.batch_size) ? MaskingOptions{}.vote_passes : 1;
  ProgressBar bar("eval", data.size(), show_progress(o.common) && ranks.leader());
  const EvaluationResult r = evaluate(
      model, data, o.common.batch_size, data.num_classes(),
      [&](int64_t done, int64_t) { bar.update(done); }, passes, &ranks.group);
  bar.finish();
  if (!ranks.leader()) return;  // rank 0 prints
  if (r.nonfinite > 0) spdlog::warn("{}", nonfinite_outputs_warning(r.nonfinite, r.examples));
  if (!o.json) {
    print_text(r, data);
    return;
  }
  nlohmann::json j;
  j["model"] = o.model_path;
  j["data"] = data.source;
  j["examples"] = r.examples;
  j["correct"] = r.correct;
  j["accuracy"] = r.accuracy;
  j["randomised"] = r.passes > 1;
  j["passes"] = r.passes;
  j["majority_accuracy"] = r.majority_accuracy;
  j["mean_loss"] = r.mean_loss;
  j["nonfinite_outputs"] = r.nonfinite;
  j["per_class_accuracy"] = nlohmann::json::array();
  for (double a : r.per_class_accuracy) j["per_class_accuracy"].push_back(nullable(a));
  j["confusion"] = nlohmann::json::array();
  for (int64_t t = 0; t < r.confusion.size(0); ++t) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < r.confusion.size(1); ++p)
      row.push_back(r.confusion[t][p].item<int64_t>());
    j["confusion"].push_back(row);
  }
  if (!data.class_names.empty()) j["class_names"] = data.class_names;
  std::cout << j.dump(2) << "\n";
}

}  // namespace

void setup_eval_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd =
      app.add_subcommand("eval", "Clean accuracy, per-class accuracy, confusion matrix");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_flag("--json", o->json, "print a JSON object (accuracy, per_class_accuracy, confusion)");
  add_common_options(*cmd, o->common, 500);
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer("Example:\n  advtk eval runs/cnn/model.pt --data fashion-mnist --split test --json");
  cmd->callback([o, &exit_code] {
    run_eval(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
