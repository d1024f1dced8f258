// The class a model predicts from its logits: the argmax of each row, except that a row holding
// a NaN predicts no class (kNoClass). argmax would return the first NaN's position — a class the
// model never chose — and count the input as correct whenever that is its label, raising clean
// and robust accuracy for a model whose outputs are broken. No class is never a label: such an
// input counts as misclassified, and an untargeted attack on it as a success.
#pragma once

#include <cstdint>

#include "core/torch.h"

namespace advtk {

constexpr int64_t kNoClass = -1;

inline torch::Tensor predicted_class(const torch::Tensor& logits) {
  return logits.argmax(1).masked_fill(logits.isnan().any(1), kNoClass);
}

}  // namespace advtk
