// advtk bench MODEL --data ...: the attack engine's speed against its floor. The floor is one
// forward pass plus one backward pass w.r.t. the input over the data, batch by batch — what any
// gradient step must cost. Each attack's time is divided by the time its model passes would take
// at the floor (its gradient computations and forward-only passes, as it counted them per
// example): 1.0 means no overhead beyond the model's own passes. Counting the passes made, not
// the nominal steps, keeps the ratio honest for attacks whose examples leave early (APGD's and
// FAB's active sets, early stopping) and for suites.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "attacks/attack_runner.h"
#include "attacks/registry.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/floor.h"
#include "cli/values.h"
#include "core/blas.h"
#include "core/error.h"

namespace advtk::cli {
namespace {

struct BenchOptions {
  std::string model_path;
  std::string attacks = "fgsm,pgd";
  std::string eps = "0.1";
  std::string batch = "250";
  int64_t repeats = 3;
  int64_t steps = 0;  // 0: each attack's own default
  bool json = false;
  CommonOptions common;
  DataOptions data;
  ModelCliOptions model;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// The largest power-of-two batch (up to the data size) whose floor pass fits in memory; on the
// CPU memory is rarely the limit, so 256.
int64_t auto_batch(const Model& model, const torch::Tensor& x, const torch::Tensor& y) {
  if (!model.device().is_cuda()) return std::min<int64_t>(256, x.size(0));
  int64_t best = 1;
  for (int64_t b = 1; b <= x.size(0); b *= 2) {
    try {
      floor_seconds(model, x.slice(0, 0, b), y.slice(0, 0, b), b);
      best = b;
    } catch (const std::exception& e) {
      if (std::string(e.what()).find("out of memory") == std::string::npos) throw;
      break;
    }
  }
  return best;
}

void run_bench(const BenchOptions& o) {
  apply_common(o.common);
  const Dataset data = load_data(o.data, o.common.seed);
  const ModelOptions model_options = to_model_options(o.model, o.common.device);
  const Model model = load_model_for(o.model_path, model_options, data);
  const torch::Tensor x = model.from_unit_range(data.images);
  ADVTK_CHECK(o.repeats >= 1, "--repeats: expected at least 1");
  const int64_t batch = o.batch == "auto"
                            ? auto_batch(model, x, data.labels)
                            : static_cast<int64_t>(parse_number(o.batch, "--batch-size"));
  ADVTK_CHECK(batch >= 1, "--batch-size: expected a positive number or auto");
  const double eps = parse_number(o.eps, "--eps");
  ADVTK_CHECK(data.size() > 0, "--data: no examples selected");
  OptionValues given;
  if (o.steps > 0) given.set("steps", o.steps);
  const std::vector<std::string> attacks = split(o.attacks, ',');
  for (const std::string& name : attacks) check_options_apply(name, given);

  floor_seconds(model, x.slice(0, 0, std::min<int64_t>(batch, x.size(0))), data.labels,
                batch);  // warm-up
  std::vector<double> floors;
  for (int64_t r = 0; r < o.repeats; ++r)
    floors.push_back(floor_seconds(model, x, data.labels, batch));
  const double floor = median(floors);
  std::vector<double> forward_floors;
  for (int64_t r = 0; r < o.repeats; ++r)
    forward_floors.push_back(forward_floor_seconds(model, x, batch));
  const double forward_floor = median(forward_floors);
  const double n = static_cast<double>(data.size());

  nlohmann::json report = {{"model", o.model_path},
                           {"data", data.source},
                           {"examples", data.size()},
                           {"batch_size", batch},
                           {"device", model.device().str()},
                           {"blas", blas_library()},
                           {"floor_seconds", floor},
                           {"forward_floor_seconds", forward_floor},
                           {"attacks", nlohmann::json::array()}};
  std::cout << "floor (forward + input backward over " << data.size() << " examples, batch "
            << batch << ", " << model.device().str() << ", BLAS " << blas_library()
            << "): " << std::fixed << std::setprecision(3) << floor << " s; forward alone "
            << forward_floor << " s (medians of " << o.repeats << ")\n";
  // grads and fwds: gradient computations and forward-only passes per example (the clean pass
  // excluded); floors: time ÷ floor; ratio: time ÷ what those passes cost at the floor.
  std::cout << std::left << std::setw(16) << "attack" << std::setw(12) << "early-stop" << std::right
            << std::setw(10) << "seconds" << std::setw(8) << "steps" << std::setw(9) << "floors"
            << std::setw(9) << "grads" << std::setw(8) << "fwds" << std::setw(8) << "ratio"
            << std::setw(10) << "robust%"
            << "\n";
  for (const std::string& name : attacks) {
    // Suites (autoattack...) only attack what is still robust: early stopping is their nature.
    const AttackInfo info = describe_attack(name);
    const bool suite = info.preset || is_attack_list(name);
    for (bool early_stop : {false, true}) {
      if (suite && !early_stop) continue;
      AttackSetup setup;
      setup.threat.norm = info.norms.front();
      setup.threat.lo = model_options.input_lo;
      setup.threat.hi = model_options.input_hi;
      setup.seed = o.common.seed;
      OptionValues options = given;
      if (!suite) options.set("early-stop", early_stop);
      AttackRunOptions run_options;
      run_options.batch_size = batch;
      run_options.skip_misclassified = early_stop;
      std::vector<double> times;
      double robust = 0, grads = 0, forwards = 0;
      int64_t steps = 0;
      for (int64_t r = 0; r < o.repeats; ++r) {
        const auto runs = run_attack(
            model, data,
            [&](double e) {
              setup.threat.eps = e;
              return make_attack(name, setup, options);
            },
            {eps}, run_options);
        synchronize(model.device());
        times.push_back(runs[0].seconds);
        robust = (runs[0].clean_pred.eq(runs[0].y) & ~runs[0].success)
                     .to(torch::kDouble)
                     .mean()
                     .item<double>();
        steps = suite ? 0 : runs[0].parameters.value("steps", int64_t{0});
        // The runner counts the clean pass as every example's first forward; it is not timed.
        grads = runs[0].backward_calls.sum().item<double>() / n;
        forwards = runs[0].forward_calls.sum().item<double>() / n - 1 - grads;
      }
      const double seconds = median(times);
      const double passes = floor * grads + forward_floor * forwards;
      // Nothing attacked (every example misclassified, with early stopping): no ratio.
      const double ratio = passes > 0 ? seconds / passes : std::nan("");
      std::cout << std::left << std::setw(16) << name << std::setw(12)
                << (early_stop ? "on" : "off") << std::right << std::setw(10)
                << std::setprecision(3) << seconds << std::setw(8)
                << (steps > 0 ? std::to_string(steps) : "-") << std::setw(9) << std::setprecision(2)
                << seconds / floor << std::setw(9) << std::setprecision(1) << grads << std::setw(8)
                << forwards << std::setw(8) << std::setprecision(3) << ratio << std::setw(10)
                << std::setprecision(2) << 100 * robust << "\n";
      report["attacks"].push_back(
          {{"attack", name},
           {"early_stop", early_stop},
           {"seconds", seconds},
           {"steps", steps > 0 ? nlohmann::json(steps) : nlohmann::json(nullptr)},
           {"floors", seconds / floor},
           {"gradients_per_example", grads},
           {"forwards_per_example", forwards},
           {"ratio", passes > 0 ? nlohmann::json(ratio) : nlohmann::json(nullptr)},
           {"robust_accuracy", robust}});
    }
  }
  if (o.json) std::cout << report.dump(2) << "\n";
}

}  // namespace

void setup_bench_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Time attacks against the floor (forward + input backward)");
  cmd->add_option("model", o->model_path, "TorchScript model file")->required();
  cmd->add_option("--attacks", o->attacks,
                  "comma-separated fixed-budget attacks or suites (autoattack: its time in floors)")
      ->capture_default_str();
  cmd->add_option("--eps", o->eps, "budget")->capture_default_str();
  add_common_options(*cmd, o->common, 250);
  cmd->remove_option(cmd->get_option("--batch-size"));  // here it also takes "auto"
  cmd->add_option("--batch-size", o->batch, "batch size, or auto (largest power of two that fits)")
      ->capture_default_str();
  cmd->add_option("--repeats", o->repeats, "runs per measurement (the median is reported)")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "iterations for attacks that take them (default: theirs)")
      ->check(at_least(1));
  cmd->add_flag("--json", o->json, "also print a JSON report");
  add_data_options(*cmd, o->data, "test");
  add_model_options(*cmd, o->model);
  cmd->footer(
      "Example:\n  OMP_WAIT_POLICY=PASSIVE advtk bench runs/cnn/model.pt --limit 1000 --batch-size "
      "250 --attacks pgd");
  cmd->callback([o, &exit_code] {
    run_bench(*o);
    exit_code = 0;
  });
}

}  // namespace advtk::cli
