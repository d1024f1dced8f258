#include "attacks/step_policy.h"

#include <cmath>

namespace advtk {

torch::Tensor SteepestAscent::next(const torch::Tensor& x, const torch::Tensor& grad, int64_t) {
  return x + steepest_step(norm_, grad, step_size_, l1_sparsity_);
}

torch::Tensor MomentumAscent::next(const torch::Tensor& x, const torch::Tensor& grad,
                                   int64_t step) {
  std::vector<int64_t> shape(grad.dim(), 1);
  shape[0] = grad.size(0);
  const torch::Tensor l1 = grad.abs().flatten(1).sum(1).clamp_min(1e-12).view(shape);
  accumulated_ = decay_ * accumulated_ + grad / l1;
  return SteepestAscent::next(x, accumulated_, step);
}

torch::Tensor AdamAscent::next(const torch::Tensor& x, const torch::Tensor& grad, int64_t step) {
  m_.mul_(kBeta1).add_(grad, 1 - kBeta1);
  v_.mul_(kBeta2).addcmul_(grad, grad, 1 - kBeta2);
  const double bias1 = 1 - std::pow(kBeta1, step), bias2 = 1 - std::pow(kBeta2, step);
  torch::Tensor out = x;
  // x + lr·(m/bias1)/(sqrt(v/bias2) + ε)
  out.addcdiv_(m_, (v_ / bias2).sqrt_().add_(kEpsilon), learning_rate_(step) / bias1);
  return out;
}

torch::Tensor heavy_ball(const torch::Tensor& x, const torch::Tensor& z,
                         const torch::Tensor& x_prev, double a) {
  return x + (z - x) * a + (x - x_prev) * (1 - a);
}

}  // namespace advtk
