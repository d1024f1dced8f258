// The adversarial examples of a run that kept them out of memory (AttackRunOptions::keep_x_adv
// false), read back from the batches in its store: for each example, the batch of the budget
// AttackRun::x_adv_budget names, or x itself. One batch per budget is in memory at a time.
#pragma once

#include <map>

#include "attacks/attack_runner.h"
#include "audit/example_set.h"

namespace advtk::cli {

class StoredRows final : public AdversarialRows {
 public:
  // `rows`: the dataset positions to read, ascending (every example when undefined).
  StoredRows(const AttackRun& run, const AttackBatchStore& store, torch::Tensor rows = {});
  torch::Tensor next(int64_t count) override;

 private:
  struct Cursor {  // where a budget's batches have been read to
    int64_t batch = -1;
    torch::Tensor rows, x_adv;
    int64_t at = 0;
  };
  const AttackRun& run_;
  const AttackBatchStore& store_;
  torch::Tensor rows_;
  int64_t done_ = 0;
  std::map<int64_t, Cursor> cursors_;
};

}  // namespace advtk::cli
