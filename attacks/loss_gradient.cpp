#include "attacks/loss_gradient.h"

#include "attacks/attack.h"
#include "core/error.h"

namespace advtk {

torch::Tensor input_gradient(const torch::Tensor& value, const torch::Tensor& input,
                             bool retain_graph) {
  if (!value.requires_grad()) return torch::zeros_like(input);
  const torch::Tensor g = torch::autograd::grad({value.sum()}, {input}, {}, retain_graph, false,
                                                /*allow_unused=*/true)[0];
  return g.defined() ? g : torch::zeros_like(input);
}

LossGradient loss_gradient(const Model& model, const torch::Tensor& x, const LossOfLogits& loss,
                           int64_t eot) {
  ADVTK_CHECK(eot >= 1, "--eot: expected at least 1 pass, got ", eot);
  LossGradient out;
  const torch::Tensor xi = x.detach().requires_grad_(true);
  for (int64_t pass = 0; pass < eot; ++pass) {
    torch::AutoGradMode grad_mode(true);
    const torch::Tensor logits = model.logits(xi);
    const torch::Tensor l = loss(logits);
    const torch::Tensor gi = input_gradient(l, xi);
    out.grad = pass == 0 ? gi : out.grad + gi;
    out.loss = pass == 0 ? l.detach() : out.loss + l.detach();
    out.logits = logits.detach();
  }
  if (eot > 1) {
    out.grad = out.grad / static_cast<double>(eot);
    out.loss = out.loss / static_cast<double>(eot);
  }
  return out;
}

LossGradient smoothed_loss_gradient(const Model& model, const torch::Tensor& x,
                                    const LossOfLogits& loss, int64_t samples, double sigma,
                                    std::vector<torch::Generator>& generators) {
  ADVTK_CHECK(samples >= 1 && sigma > 0, "smoothed gradients: expected samples >= 1, sigma > 0");
  torch::NoGradGuard no_grad;
  LossGradient out;
  out.logits = model.logits(x);
  out.loss = loss(out.logits);
  torch::Tensor sum = torch::zeros_like(x);
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = -1;
  for (int64_t i = 0; i < samples; ++i) {
    const torch::Tensor u = example_gaussian(generators, x);
    const torch::Tensor diff =
        loss(model.logits(x + sigma * u)) - loss(model.logits(x - sigma * u));
    sum += diff.view(shape) * u;
  }
  out.grad = sum / (2 * sigma * static_cast<double>(samples));
  return out;
}

}  // namespace advtk
