// The loss, logits and input gradient of a batch, averaged over `eot` forward/backward passes:
// Expectation over Transformation (Athalye, Engstrom, Ilyas & Kwok 2018), the gradient estimate
// for randomised models. With eot = 1 it is one plain pass; on a deterministic model every pass
// gives the same numbers, so EOT changes nothing there.
#pragma once

#include <functional>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct LossGradient {
  torch::Tensor logits;  // [N, K] of the last pass (as AutoAttack), detached
  torch::Tensor loss;    // [N] mean over the passes, detached
  torch::Tensor grad;    // like x: mean over the passes
};

using LossOfLogits = std::function<torch::Tensor(const torch::Tensor& logits)>;

LossGradient loss_gradient(const Model& model, const torch::Tensor& x, const LossOfLogits& loss,
                           int64_t eot = 1);

}  // namespace advtk
