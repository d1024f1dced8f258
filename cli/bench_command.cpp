// advtk bench MODEL --data ...: the attack engine's speed against its floor. The floor is one
// forward pass plus one backward pass w.r.t. the input over the data, batch by batch — what any
// gradient step must cost. Each attack's time is divided by (floor × its gradient steps): 1.0 means
// no overhead beyond the model's own passes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
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

  floor_seconds(model, x.slice(0, 0, std::min<int64_t>(batch, x.size(0))), data.labels,
                batch);  // warm-up
  std::vector<double> floors;
  for (int64_t r = 0; r < o.repeats; ++r)
    floors.push_back(floor_seconds(model, x, data.labels, batch));
  const double floor = median(floors);

  nlohmann::json report = {{"model", o.model_path},          {"data", data.source},
                           {"examples", data.size()},        {"batch_size", batch},
                           {"device", model.device().str()}, {"blas", blas_library()},
                           {"floor_seconds", floor},         {"attacks", nlohmann::json::array()}};
  std::cout << "floor (forward + input backward over " << data.size() << " examples, batch "
            << batch << ", " << model.device().str() << ", BLAS " << blas_library()
            << "): " << std::fixed << std::setprecision(3) << floor << " s (median of " << o.repeats
            << ")\n";
  std::cout << std::left << std::setw(16) << "attack" << std::setw(12) << "early-stop" << std::right
            << std::setw(10) << "seconds" << std::setw(8) << "steps" << std::setw(9) << "ratio"
            << std::setw(10) << "robust%"
            << "\n";
  for (const std::string& name : split(o.attacks, ',')) {
    // Suites (autoattack...) only attack what is still robust: early stopping is their nature,
    // and their time is reported in floors (steps = 1).
    const AttackInfo info = describe_attack(name);
    const bool suite = info.preset || is_attack_list(name);
    for (bool early_stop : {false, true}) {
      if (suite && !early_stop) continue;
      AttackSetup setup;
      setup.threat.norm = info.norms.front();
      setup.threat.lo = model_options.input_lo;
      setup.threat.hi = model_options.input_hi;
      setup.seed = o.common.seed;
      const OptionValues options = OptionValues().set("early-stop", early_stop);
      AttackRunOptions run_options;
      run_options.batch_size = batch;
      run_options.skip_misclassified = early_stop;
      std::vector<double> times;
      double robust = 0;
      int64_t steps = 1;
      for (int64_t r = 0; r < o.repeats; ++r) {
        const auto runs = run_attack(
            model, data,
            [&](double e) {
              setup.threat.eps = e;
              return make_attack(name, setup, suite ? OptionValues() : options);
            },
            {eps}, run_options);
        synchronize(model.device());
        times.push_back(runs[0].seconds);
        robust = (runs[0].clean_pred.eq(runs[0].y) & ~runs[0].success)
                     .to(torch::kDouble)
                     .mean()
                     .item<double>();
        steps = suite ? 1 : runs[0].parameters.value("steps", int64_t{1});
      }
      const double seconds = median(times);
      const double ratio = seconds / (floor * static_cast<double>(steps));
      std::cout << std::left << std::setw(16) << name << std::setw(12)
                << (early_stop ? "on" : "off") << std::right << std::setw(10)
                << std::setprecision(3) << seconds << std::setw(8) << steps << std::setw(9)
                << std::setprecision(3) << ratio << std::setw(10) << std::setprecision(2)
                << 100 * robust << "\n";
      report["attacks"].push_back({{"attack", name},
                                   {"early_stop", early_stop},
                                   {"seconds", seconds},
                                   {"gradient_steps", steps},
                                   {"ratio", ratio},
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
