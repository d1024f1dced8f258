// What a training step minimises. Clean training uses cross-entropy on the batch; adversarial
// training (defenses/) plugs in objectives that first craft the inputs.
#pragma once

#include <cstdint>
#include <string>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct TrainBatch {
  torch::Tensor x;      // [N, ...] in the model's input range, on the model's device
  torch::Tensor y;      // [N] labels, on the model's device
  torch::Tensor index;  // [N] int64 on the CPU: dataset indices, for per-example randomness
  int64_t epoch = 1;    // 1-based
  double progress = 0;  // epochs completed at the end of this batch (fractional), for warm-ups
};

struct BatchLoss {
  torch::Tensor loss;    // scalar, differentiable w.r.t. the parameters
  torch::Tensor logits;  // [N, K] on the inputs trained on, for the running accuracy
};

class TrainingObjective {
 public:
  virtual ~TrainingObjective() = default;
  // The model is in training mode with trainable parameters.
  virtual BatchLoss compute(Model& model, const TrainBatch& batch) = 0;
  virtual std::string name() const = 0;
};

class CrossEntropyObjective : public TrainingObjective {
 public:
  BatchLoss compute(Model& model, const TrainBatch& batch) override {
    torch::Tensor logits = model.logits(batch.x);
    return {torch::nn::functional::cross_entropy(logits, batch.y), logits};
  }
  std::string name() const override { return "clean"; }
};

}  // namespace advtk
