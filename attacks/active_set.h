// The examples a gradient loop still works on. A loop registers the per-example tensors it
// carries (its iterate, best point and loss, step sizes, counters...); when some examples are
// done, keep() narrows every one of them at once, so no loop keeps its tensors in step by hand.
// `rows` (always carried) maps the active examples back to their positions in the batch; the
// write-back and counting methods address the batch-wide result through it.
#pragma once

#include <vector>

#include "attacks/attack.h"
#include "core/torch.h"

namespace advtk {

class ActiveSet {
 public:
  // `rows`: the positions (int64, on the batch's device) the loop starts with.
  explicit ActiveSet(torch::Tensor rows) : rows_(std::move(rows)) {}
  ActiveSet(const ActiveSet&) = delete;
  ActiveSet& operator=(const ActiveSet&) = delete;

  // Narrowed with the set from now on; an undefined tensor stays undefined. Each tensor is
  // indexed on its own device (a batch's `index` lives on the CPU).
  void carry(torch::Tensor& t) { carried_.push_back(&t); }
  void carry(AttackBatch& batch);

  // Keeps the active examples where `mask` [size()] holds; false when none is left (nothing is
  // narrowed then). One device sync, as the loops had.
  bool keep(const torch::Tensor& mask);
  // A tensor of the set as it was before the last keep() (a step's logits), narrowed as the
  // carried ones were.
  torch::Tensor narrowed(const torch::Tensor& t) const;

  const torch::Tensor& rows() const { return rows_; }
  int64_t size() const { return rows_.size(0); }

  // A batch-wide tensor's active rows.
  torch::Tensor select(const torch::Tensor& batch_wide) const;
  // The batch-wide result at the active rows: dst[rows] = value; dst[rows] = value where `mask`
  // holds; counter[rows] += k (forward and backward calls).
  void write(torch::Tensor& dst, const torch::Tensor& value) const;
  void write_where(torch::Tensor& dst, const torch::Tensor& mask, const torch::Tensor& value) const;
  void count(torch::Tensor& counter, int64_t k = 1) const;

 private:
  torch::Tensor rows_;
  torch::Tensor kept_;  // positions the last keep() kept; undefined when it kept all
  std::vector<torch::Tensor*> carried_;
};

}  // namespace advtk
