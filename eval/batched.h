// Batched forward passes without gradients: logits, predictions, majority votes over passes
// (randomised models), the clean-correct examples, and example subsets that keep their ids.
#pragma once

#include <cstdint>

#include "core/torch.h"
#include "data/dataset.h"
#include "models/model.h"

namespace advtk {

// The examples at `rows` (CPU int64) of `data`, keeping their ids.
Dataset rows_of(const Dataset& data, const torch::Tensor& rows);

struct Points {
  Dataset data;      // the clean-correct points, ids = dataset positions
  int64_t seen = 0;  // examples looked at to find them
  double clean_accuracy = 0;
};

// The first `want` examples the model classifies correctly (by majority over `passes`).
Points clean_correct_points(const Model& model, const Dataset& data, int64_t want, int64_t passes,
                            int64_t batch_size);

// [N] int64 (CPU): in how many of `passes` forward passes each row is misclassified.
torch::Tensor wrong_votes(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                          int64_t passes, int64_t batch_size);

// [N] bool (CPU): misclassified in more than half of `passes` forward passes.
torch::Tensor majority_misclassified(const Model& model, const torch::Tensor& x,
                                     const torch::Tensor& y, int64_t passes, int64_t batch_size);

// One pass's logits [N, K] (CPU) in batches, without gradients, and their argmax.
torch::Tensor batched_logits(const Model& model, const torch::Tensor& x, int64_t batch_size);
torch::Tensor predictions(const Model& model, const torch::Tensor& x, int64_t batch_size);

}  // namespace advtk
