#include "attacks/active_set.h"

namespace advtk {

void ActiveSet::carry(AttackBatch& batch) {
  for (torch::Tensor* t : {&batch.x, &batch.y, &batch.target, &batch.index, &batch.reference_logits,
                           &batch.clean_pred})
    carried_.push_back(t);
}

bool ActiveSet::keep(const torch::Tensor& mask) {
  const torch::Tensor keep = mask.nonzero().squeeze(1);
  if (keep.numel() == 0) return false;
  if (keep.numel() == rows_.numel()) {
    kept_ = torch::Tensor();
    return true;
  }
  kept_ = keep;
  rows_ = rows_.index_select(0, keep);
  for (torch::Tensor* t : carried_)
    if (t->defined()) *t = t->index_select(0, keep.to(t->device()));
  return true;
}

torch::Tensor ActiveSet::narrowed(const torch::Tensor& t) const {
  return kept_.defined() ? t.index_select(0, kept_.to(t.device())) : t;
}

torch::Tensor ActiveSet::select(const torch::Tensor& batch_wide) const {
  return batch_wide.index_select(0, rows_);
}

void ActiveSet::write(torch::Tensor& dst, const torch::Tensor& value) const {
  dst.index_copy_(0, rows_, value);
}

void ActiveSet::write_where(torch::Tensor& dst, const torch::Tensor& mask,
                            const torch::Tensor& value) const {
  update_rows(dst, rows_, mask, value);
}

void ActiveSet::count(torch::Tensor& counter, int64_t k) const {
  counter.index_add_(0, rows_, torch::full_like(rows_, k));
}

}  // namespace advtk
