#include "attacks/active_set.h"

namespace advtk {

void ActiveSet::carry(AttackBatch& batch) {
  for (torch::Tensor* t :
       {&batch.x, &batch.y, &batch.target, &batch.index, &batch.reference_logits})
    carried_.push_back(t);
}

bool ActiveSet::keep(const torch::Tensor& mask) {
  const torch::Tensor keep = mask.nonzero().squeeze(1);
  if (keep.numel() == 0) return false;
  if (keep.numel() == rows_.numel()) return true;
  rows_ = rows_.index_select(0, keep);
  for (torch::Tensor* t : carried_)
    if (t->defined()) *t = t->index_select(0, keep.to(t->device()));
  return true;
}

}  // namespace advtk
