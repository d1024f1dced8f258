#include "poisoning/neural_cleanse.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/median.h"
#include "core/seeding.h"

namespace advtk {

std::vector<double> anomaly_indices(const std::vector<double>& norms) {
  const double med = median(norms);
  std::vector<double> dev;
  for (double n : norms) dev.push_back(std::abs(n - med));
  const double mad = 1.4826 * median(dev);
  std::vector<double> out;
  for (double d : dev) out.push_back(mad > 0 ? d / mad : 0.0);
  return out;
}

NeuralCleanseReport neural_cleanse(const Model& model, const torch::Tensor& clean, int64_t classes,
                                   const NeuralCleanseOptions& o,
                                   const std::function<void(int64_t, int64_t)>& progress) {
  ADVTK_CHECK(clean.dim() == 4 && clean.size(0) >= 1, "neural cleanse: expected clean inputs");
  ADVTK_CHECK(classes >= 2, "neural cleanse: expected at least 2 classes");
  const auto start = std::chrono::steady_clock::now();
  const int64_t k = classes, c = clean.size(1), h = clean.size(2), w = clean.size(3);
  const torch::Device device = model.device();
  torch::Generator gen = make_generator(o.seed, 0x0C1E);
  // tanh parameters: m = tanh(a)/2 + 1/2 starts near 0.5 everywhere, as in the authors' code
  // (random init of the raw values, small).
  torch::Tensor mask_raw =
      (torch::rand({k, 1, h, w}, gen) * 0.2 - 0.1).to(device).requires_grad_(true);
  torch::Tensor pattern_raw =
      (torch::rand({k, c, h, w}, gen) * 0.2 - 0.1).to(device).requires_grad_(true);
  torch::optim::Adam adam({mask_raw, pattern_raw},
                          torch::optim::AdamOptions(o.lr).betas({0.5, 0.9}));
  std::vector<double> cost(k, o.init_cost), best_norm(k, std::numeric_limits<double>::infinity()),
      best_success(k, 0.0);
  std::vector<int64_t> up(k, 0), down(k, 0);
  torch::Tensor best_mask = torch::zeros({k, 1, h, w}), best_pattern = torch::zeros({k, c, h, w});
  const torch::Tensor targets =
      torch::arange(k, torch::kLong).repeat_interleave(o.batch_size).to(device);
  const int64_t n = clean.size(0);
  for (int64_t step = 0; step < o.steps; ++step) {
    const torch::Tensor pick = torch::randint(0, n, {k * o.batch_size}, gen);
    const torch::Tensor x = clean.index_select(0, pick).to(device).view({k, o.batch_size, c, h, w});
    const torch::Tensor m = (torch::tanh(mask_raw) / 2 + 0.5).unsqueeze(1);     // [K,1,1,H,W]
    const torch::Tensor p = (torch::tanh(pattern_raw) / 2 + 0.5).unsqueeze(1);  // [K,1,C,H,W]
    const torch::Tensor stamped = ((1 - m) * x + m * p).view({k * o.batch_size, c, h, w});
    const torch::Tensor logits = model.logits(model.from_unit_range(stamped));
    const torch::Tensor ce =
        torch::nn::functional::cross_entropy(
            logits, targets,
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
            .view({k, o.batch_size})
            .mean(1);
    const torch::Tensor l1 = m.view({k, -1}).sum(1);
    const torch::Tensor lambda = torch::tensor(cost, torch::kFloat).to(device);
    const torch::Tensor loss = (ce + lambda * l1).sum();
    adam.zero_grad();
    loss.backward();
    adam.step();
    // Per class: success on this batch, best mask, cost schedule.
    const torch::Tensor success =
        (logits.argmax(1) == targets).view({k, o.batch_size}).to(torch::kFloat).mean(1).cpu();
    const torch::Tensor norms = l1.detach().cpu();
    for (int64_t t = 0; t < k; ++t) {
      const double s = success[t].item<double>(), nm = norms[t].item<double>();
      if (s >= o.success_threshold && nm < best_norm[t]) {
        best_norm[t] = nm;
        best_success[t] = s;
        best_mask[t] = m[t][0].detach().cpu();
        best_pattern[t] = p[t][0].detach().cpu();
      }
      if (s >= o.success_threshold) {
        ++up[t];
        down[t] = 0;
      } else {
        ++down[t];
        up[t] = 0;
      }
      if (up[t] >= o.patience) {
        cost[t] *= o.cost_multiplier;
        up[t] = 0;
      } else if (down[t] >= o.patience) {
        cost[t] /= std::pow(o.cost_multiplier, 1.5);
        down[t] = 0;
      }
    }
    if (progress) progress(step + 1, o.steps);
  }
  NeuralCleanseReport r;
  // A class never reaching the threshold keeps its last mask: its norm is then no small one.
  for (int64_t t = 0; t < k; ++t) {
    if (!std::isfinite(best_norm[t])) {
      const torch::Tensor m = torch::tanh(mask_raw[t]).detach().cpu() / 2 + 0.5;
      best_mask[t] = m;
      best_pattern[t] = torch::tanh(pattern_raw[t]).detach().cpu() / 2 + 0.5;
      best_norm[t] = m.sum().item<double>();
    }
  }
  r.mask_norm = best_norm;
  r.success = best_success;
  r.anomaly_index = anomaly_indices(best_norm);
  std::vector<double> logs;
  for (double v : best_norm) logs.push_back(std::log(std::max(v, 1e-6)));
  r.log_anomaly_index = anomaly_indices(logs);
  const double med = median(best_norm);
  for (int64_t t = 0; t < k; ++t)
    if (best_norm[t] < med && r.anomaly_index[t] > o.anomaly_threshold) r.flagged.push_back(t);
  r.masks = best_mask;
  r.patterns = best_pattern;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace advtk
