// Training features grouped by label, each with its clean reference — what the training-data
// detectors share. The reference (clean inputs the auditor trusts, as Neural Cleanse and STRIP
// need) tells a class's natural spread apart from a foreign group inside it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/torch.h"

namespace advtk {

// The row indices of each class, 0..classes-1 (a label outside that range is an error).
std::vector<torch::Tensor> rows_by_class(const torch::Tensor& labels, int64_t classes);

// Shared inputs of the training-data detectors: features [N, D] with labels [N] of the training
// set, and the clean reference's features [M, D] with labels [M].
struct FeatureSet {
  torch::Tensor features, labels;
  torch::Tensor reference_features, reference_labels;
  int64_t classes = 0;
};

// Checks the shapes and label ranges; one line naming what is wrong.
void check_feature_set(const FeatureSet& set);

// A class needs this many reference inputs for its decision; fewer and it is left undecided.
constexpr int64_t kMinReferencePerClass = 5;

}  // namespace advtk
