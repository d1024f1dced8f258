// The loss, logits and input gradient of a batch, averaged over `eot` forward/backward passes:
// Expectation over Transformation (Athalye, Engstrom, Ilyas & Kwok 2018), the gradient estimate
// for randomised models. With eot = 1 it is one plain pass; on a deterministic model every pass
// gives the same numbers, so EOT changes nothing there.
#pragma once

#include <functional>
#include <vector>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct LossGradient {
  torch::Tensor logits;  // [N, K] of the last pass (as AutoAttack), detached
  torch::Tensor loss;    // [N] mean over the passes, detached
  torch::Tensor grad;    // like x: mean over the passes
};

using LossOfLogits = std::function<torch::Tensor(const torch::Tensor& logits)>;

// ∂(sum of `value`)/∂`input`, or zeros when `value` has no gradient path to the input (a
// comparison or a cast cut the graph): the function is locally constant there, and zero is
// what an attacker's autograd sees. Every attack takes input gradients through this.
torch::Tensor input_gradient(const torch::Tensor& value, const torch::Tensor& input,
                             bool retain_graph = false);

LossGradient loss_gradient(const Model& model, const torch::Tensor& x, const LossOfLogits& loss,
                           int64_t eot = 1);

// A gradient estimate from loss values only, by antithetic Gaussian finite differences (the NES
// estimator of Ilyas, Engstrom, Athalye & Lin 2018): g = Σ_i [L(x + σu_i) − L(x − σu_i)] u_i /
// (2σ·samples), u_i ~ N(0, I) drawn per example from `generators`. It estimates the gradient of
// the Gaussian-smoothed loss, so it goes around zero-derivative steps and shattered gradients
// that autograd cannot see past. Costs 2·samples + 1 forward passes, no backward pass.
LossGradient smoothed_loss_gradient(const Model& model, const torch::Tensor& x,
                                    const LossOfLogits& loss, int64_t samples, double sigma,
                                    std::vector<torch::Generator>& generators);

}  // namespace advtk
