#include "poisoning/neural_cleanse.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/median.h"
#include "core/seeding.h"

namespace advtk {
namespace {

constexpr uint64_t kFullStream = 0x0C1E, kPrescreenStream = 0x0C1F;
const double kNotSearched = std::numeric_limits<double>::quiet_NaN();

struct ClassResult {
  double norm = std::numeric_limits<double>::infinity();
  double success = 0;
  torch::Tensor mask, pattern;  // [1, H, W], [C, H, W]
};

// One batched optimisation of the classes in `group` (the paper's search per class).
std::vector<ClassResult> search_group(const Model& model, const torch::Tensor& clean,
                                      const std::vector<int64_t>& group, int64_t steps,
                                      uint64_t stream, const NeuralCleanseOptions& o,
                                      const std::function<void(int64_t)>& stepped) {
  const int64_t k = static_cast<int64_t>(group.size()), c = clean.size(1), h = clean.size(2),
                w = clean.size(3), n = clean.size(0);
  const torch::Device device = model.device();
  std::vector<torch::Generator> gens;
  std::vector<torch::Tensor> mask_init, pattern_init;
  for (int64_t t : group) {
    gens.push_back(make_generator(o.seed, mix_seed(stream, static_cast<uint64_t>(t))));
    // m = tanh(a)/2 + 1/2 starts near 0.5 everywhere (small random raw values).
    mask_init.push_back(torch::rand({1, h, w}, gens.back()) * 0.2 - 0.1);
    pattern_init.push_back(torch::rand({c, h, w}, gens.back()) * 0.2 - 0.1);
  }
  torch::Tensor mask_raw = torch::stack(mask_init).to(device).requires_grad_(true);
  torch::Tensor pattern_raw = torch::stack(pattern_init).to(device).requires_grad_(true);
  torch::optim::Adam adam({mask_raw, pattern_raw},
                          torch::optim::AdamOptions(o.lr).betas({0.5, 0.9}));
  std::vector<double> cost(k, o.init_cost);
  std::vector<int64_t> up(k, 0), down(k, 0);
  std::vector<ClassResult> best(k);
  const torch::Tensor targets =
      torch::tensor(group, torch::kLong).repeat_interleave(o.batch_size).to(device);
  for (int64_t step = 0; step < steps; ++step) {
    std::vector<torch::Tensor> picks;
    for (auto& g : gens) picks.push_back(torch::randint(0, n, {o.batch_size}, g));
    const torch::Tensor x =
        clean.index_select(0, torch::cat(picks)).to(device).view({k, o.batch_size, c, h, w});
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
    // One host copy of both per-class figures a step.
    const torch::Tensor figures =
        torch::stack(
            {(logits.argmax(1) == targets).view({k, o.batch_size}).to(torch::kFloat).mean(1),
             l1.detach().to(torch::kFloat)})
            .to(torch::kCPU, torch::kDouble);
    const auto f = figures.accessor<double, 2>();
    for (int64_t t = 0; t < k; ++t) {
      const double s = f[0][t], nm = f[1][t];
      if (s >= o.success_threshold && nm < best[t].norm) {
        best[t].norm = nm;
        best[t].success = s;
        best[t].mask = m[t][0].detach().cpu();
        best[t].pattern = p[t][0].detach().cpu();
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
    stepped(k);
  }
  // A class never reaching the threshold keeps its last mask: its norm is then no small one.
  for (int64_t t = 0; t < k; ++t) {
    if (std::isfinite(best[t].norm)) continue;
    best[t].mask = torch::tanh(mask_raw[t]).detach().cpu() / 2 + 0.5;
    best[t].pattern = torch::tanh(pattern_raw[t]).detach().cpu() / 2 + 0.5;
    best[t].norm = best[t].mask.sum().item<double>();
  }
  return best;
}

// Every class of `classes` searched, classes_per_search at a time; results by class id.
std::vector<ClassResult> search(const Model& model, const torch::Tensor& clean,
                                const std::vector<int64_t>& classes, int64_t total_classes,
                                int64_t steps, uint64_t stream, const NeuralCleanseOptions& o,
                                const std::function<void(int64_t)>& stepped) {
  std::vector<ClassResult> out(total_classes);
  for (size_t begin = 0; begin < classes.size();
       begin += static_cast<size_t>(o.classes_per_search)) {
    const size_t end = std::min(classes.size(), begin + static_cast<size_t>(o.classes_per_search));
    const std::vector<int64_t> group(classes.begin() + begin, classes.begin() + end);
    const std::vector<ClassResult> r = search_group(model, clean, group, steps, stream, o, stepped);
    for (size_t i = 0; i < group.size(); ++i) out[group[i]] = r[i];
  }
  return out;
}

}  // namespace

std::vector<double> anomaly_indices(const std::vector<double>& norms) {
  const double med = median(norms);
  std::vector<double> dev;
  for (double n : norms) dev.push_back(std::abs(n - med));
  const double mad = 1.4826 * median(dev);
  std::vector<double> out;
  for (double d : dev) out.push_back(mad > 0 ? d / mad : 0.0);
  return out;
}

std::vector<double> log_anomaly_indices(const std::vector<double>& norms) {
  std::vector<double> logs;
  for (double v : norms) logs.push_back(std::log(std::max(v, 1e-6)));
  return anomaly_indices(logs);
}

std::vector<int64_t> neural_cleanse_flags(const std::vector<double>& norms,
                                          const std::vector<int64_t>& searched,
                                          const NeuralCleanseOptions& o) {
  const std::vector<double> index = anomaly_indices(norms);
  const std::vector<double> log_index = log_anomaly_indices(norms);
  const double med = median(norms);
  std::vector<int64_t> flagged;
  for (int64_t t : searched)
    if (norms[t] < med && ((o.anomaly_threshold > 0 && index[t] > o.anomaly_threshold) ||
                           log_index[t] > o.log_anomaly_threshold))
      flagged.push_back(t);
  return flagged;
}

int64_t neural_cleanse_kept(const NeuralCleanseOptions& o, int64_t classes) {
  if (classes <= o.prescreen_above) return classes;
  const int64_t keep =
      o.prescreen_keep > 0 ? o.prescreen_keep : std::max<int64_t>(10, (classes + 9) / 10);
  return std::min(keep, classes);
}

int64_t neural_cleanse_prescreen_steps(const NeuralCleanseOptions& o, int64_t classes) {
  if (neural_cleanse_kept(o, classes) >= classes) return 0;
  return o.prescreen_steps > 0 ? o.prescreen_steps : std::max<int64_t>(1, o.steps / 5);
}

int64_t neural_cleanse_class_steps(const NeuralCleanseOptions& o, int64_t classes) {
  return neural_cleanse_prescreen_steps(o, classes) * classes +
         o.steps * neural_cleanse_kept(o, classes);
}

NeuralCleanseReport neural_cleanse(const Model& model, const torch::Tensor& clean, int64_t classes,
                                   const NeuralCleanseOptions& o,
                                   const std::function<void(int64_t, int64_t)>& progress) {
  ADVTK_CHECK(clean.dim() == 4 && clean.size(0) >= 1, "neural cleanse: expected clean inputs");
  ADVTK_CHECK(classes >= 2, "neural cleanse: expected at least 2 classes");
  ADVTK_CHECK(o.steps >= 1 && o.batch_size >= 1 && o.classes_per_search >= 1 &&
                  o.prescreen_keep >= 0 && o.prescreen_steps >= 0,
              "neural cleanse: steps, batch size and classes per search must be at least 1");
  const auto start = std::chrono::steady_clock::now();
  const int64_t total = neural_cleanse_class_steps(o, classes);
  int64_t done = 0;
  const auto stepped = [&](int64_t class_steps) {
    done += class_steps;
    if (progress) progress(done, total);
  };
  NeuralCleanseReport r;
  std::vector<int64_t> all(classes);
  std::iota(all.begin(), all.end(), 0);
  r.searched = all;
  r.prescreen_steps = neural_cleanse_prescreen_steps(o, classes);
  if (r.prescreen_steps > 0) {
    const std::vector<ClassResult> pre =
        search(model, clean, all, classes, r.prescreen_steps, kPrescreenStream, o, stepped);
    for (const ClassResult& c : pre) r.prescreen_norm.push_back(c.norm);
    std::stable_sort(all.begin(), all.end(), [&](int64_t a, int64_t b) {
      return r.prescreen_norm[a] < r.prescreen_norm[b];
    });
    r.searched.assign(all.begin(), all.begin() + neural_cleanse_kept(o, classes));
    std::sort(r.searched.begin(), r.searched.end());
  }
  const std::vector<ClassResult> full =
      search(model, clean, r.searched, classes, o.steps, kFullStream, o, stepped);
  const int64_t c = clean.size(1), h = clean.size(2), w = clean.size(3);
  r.masks = torch::zeros({classes, 1, h, w});
  r.patterns = torch::zeros({classes, c, h, w});
  r.mask_norm.assign(classes, kNotSearched);
  r.success.assign(classes, kNotSearched);
  std::vector<double> ratios;
  for (int64_t t : r.searched) {
    r.mask_norm[t] = full[t].norm;
    r.success[t] = full[t].success;
    r.masks[t] = full[t].mask;
    r.patterns[t] = full[t].pattern;
    if (r.prescreen_steps > 0) ratios.push_back(full[t].norm / r.prescreen_norm[t]);
  }
  if (!ratios.empty()) r.prescreen_scale = median(ratios);
  r.index_norm = r.mask_norm;
  for (int64_t t = 0; t < classes; ++t)
    if (std::isnan(r.index_norm[t])) r.index_norm[t] = r.prescreen_scale * r.prescreen_norm[t];
  r.anomaly_index = anomaly_indices(r.index_norm);
  r.log_anomaly_index = log_anomaly_indices(r.index_norm);
  r.flagged = neural_cleanse_flags(r.index_norm, r.searched, o);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace advtk
