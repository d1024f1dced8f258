// Clean evaluation: accuracy, per-class accuracy, confusion matrix and mean cross-entropy.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"
#include "models/model.h"

namespace advtk {

struct EvaluationResult {
  int64_t examples = 0;
  int64_t correct = 0;
  double accuracy = 0.0;
  double mean_loss = 0.0;                  // cross-entropy
  std::vector<double> per_class_accuracy;  // NaN for classes with no examples
  torch::Tensor confusion;                 // [K, K] int64: row = true label, column = prediction
  torch::Tensor predictions;               // [N] int64
};

// Called after each batch with (examples done, total).
using BatchProgress = std::function<void(int64_t, int64_t)>;

// Runs the model over `data` in batches without gradients. `num_classes` sizes the confusion
// matrix (0: the model's output width).
EvaluationResult evaluate(const Model& model, const Dataset& data, int64_t batch_size,
                          int64_t num_classes = 0, const BatchProgress& progress = {});

}  // namespace advtk
