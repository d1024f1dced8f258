#include "cli/floor.h"

#include <algorithm>
#include <chrono>

#include "attacks/loss_gradient.h"

namespace advtk::cli {

double floor_seconds(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                     int64_t batch) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < x.size(0); s += batch) {
    const int64_t e = std::min(x.size(0), s + batch);
    const torch::Tensor xb = x.slice(0, s, e).to(model.device()).requires_grad_(true);
    const torch::Tensor yb = y.slice(0, s, e).to(model.device());
    input_gradient(torch::nn::functional::cross_entropy(model.logits(xb), yb), xb);
  }
  if (model.device().is_cuda()) torch::cuda::synchronize(model.device().index());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double forward_floor_seconds(const Model& model, const torch::Tensor& x, int64_t batch) {
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < x.size(0); s += batch) {
    const int64_t e = std::min(x.size(0), s + batch);
    model.logits(x.slice(0, s, e).to(model.device()));
  }
  if (model.device().is_cuda()) torch::cuda::synchronize(model.device().index());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace advtk::cli
