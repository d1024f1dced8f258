// Target classes for targeted attacks: random (seeded per example), least likely, or one class.
#pragma once

#include <cstdint>

#include "core/torch.h"

namespace advtk {

enum class TargetMode { None, Random, LeastLikely, Fixed };

struct TargetSpec {
  TargetMode mode = TargetMode::None;
  int64_t fixed_class = -1;  // TargetMode::Fixed
};

// clean_logits [N, K], labels [N], index [N] global ids. Random targets are uniform over the
// classes other than the label, drawn from (seed, example index). Undefined when mode is None.
torch::Tensor choose_targets(const TargetSpec& spec, const torch::Tensor& clean_logits,
                             const torch::Tensor& labels, const torch::Tensor& index,
                             uint64_t seed);

}  // namespace advtk
