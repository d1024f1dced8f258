// What a training step minimises. Clean training uses cross-entropy on the batch; adversarial
// training (defenses/) plugs in objectives that first craft the inputs.
#pragma once

#include <string>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct BatchLoss {
  torch::Tensor loss;    // scalar, differentiable w.r.t. the parameters
  torch::Tensor logits;  // [N, K] on the inputs trained on, for the running accuracy
};

class TrainingObjective {
 public:
  virtual ~TrainingObjective() = default;
  // x: a batch in the model's input range, y: labels; the model is in training mode.
  virtual BatchLoss compute(Model& model, const torch::Tensor& x, const torch::Tensor& y) = 0;
  virtual std::string name() const = 0;
};

class CrossEntropyObjective : public TrainingObjective {
 public:
  BatchLoss compute(Model& model, const torch::Tensor& x, const torch::Tensor& y) override {
    torch::Tensor logits = model.logits(x);
    return {torch::nn::functional::cross_entropy(logits, y), logits};
  }
  std::string name() const override { return "clean"; }
};

}  // namespace advtk
