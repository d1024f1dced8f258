// Adversarial example sets on disk, for programs and for people, and their summary figures.
//
//   adversarial.pt  dict: x_adv, x, y, pred_clean, pred_adv, success, distance, index (, target),
//                   parameters (a JSON string) — loads with Python's torch.load and as --data pt:
//   x_adv.npy, y.npy
//   examples.csv
//   index,label,target,clean_pred,adv_pred,success,linf,l2,forward_calls,backward_calls
//   summary.json    see summarize_run()
//   grid.png        clean / amplified perturbation / adversarial, captioned
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/attack_runner.h"
#include "data/dataset.h"

namespace advtk {

// Figures of one run: examples, clean_accuracy, robust_accuracy, success_rate (over the examples
// the attack had to break: clean-correct ones, untargeted), median_l2 / median_linf (over those
// it broke; null when none), seconds, forward_calls, backward_calls, and the attack's parameters.
// For minimum-norm attacks `budgets` adds robust_accuracy_at: robust accuracy at each budget
// (an example counts as broken there when its perturbation is within the budget).
nlohmann::json summarize_run(const AttackRun& run, bool minimum_norm,
                             const std::vector<double>& budgets);

// A run's adversarial examples in dataset order, a block of rows at a time: from memory, or from
// where a run that does not keep them put them (the attack's store, the parts of a sharded run).
class AdversarialRows {
 public:
  virtual ~AdversarialRows() = default;
  virtual torch::Tensor next(int64_t count) = 0;  // the next `count` rows
};

// Rows of a run whose x_adv is in memory.
class InMemoryRows final : public AdversarialRows {
 public:
  explicit InMemoryRows(torch::Tensor x_adv) : x_adv_(std::move(x_adv)) {}
  torch::Tensor next(int64_t count) override;

 private:
  torch::Tensor x_adv_;
  int64_t done_ = 0;
};

// Writes the files above into `dir` (created), each atomically. x_adv comes from `rows` a block
// at a time (from run.x_adv when null), so that it is never in memory whole.
void write_example_set(const std::string& dir, const AttackRun& run, const Dataset& data,
                       const nlohmann::json& summary, AdversarialRows* rows = nullptr);

}  // namespace advtk
