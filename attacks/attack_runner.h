// Runs an attack over a dataset: the clean pass, batching, targets, and the sweep over several
// budgets — written once for every attack.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "attacks/attack.h"
#include "attacks/targets.h"
#include "data/dataset.h"

namespace advtk {

struct AttackRunOptions {
  int64_t batch_size = 256;
  // Clean-misclassified examples (untargeted) are adversarial at distance 0 and not attacked.
  bool skip_misclassified = true;
  TargetSpec target;
  uint64_t seed = 0;
};

// Everything per example, on the CPU, in dataset order.
struct AttackRun {
  double eps = 0.0;  // the budget (fixed-budget attacks); 0 for minimum-norm attacks
  torch::Tensor x, x_adv, y, target, clean_pred, pred_adv, success, distance;
  // Cumulative over the sweep: the clean pass and every smaller budget's work are included.
  torch::Tensor forward_calls, backward_calls;
  // Ensembles: the attack (index into parameters["attacks"]) that broke each example; -1 none.
  torch::Tensor broken_by;
  // What the attacks saw as adversarial before the returned points were judged again (success
  // is that judgement: one fresh forward pass per attack).
  torch::Tensor claimed;
  double seconds = 0.0;
  nlohmann::json parameters;
};

using AttackFactory = std::function<std::unique_ptr<Attack>(double eps)>;
using RunProgress = std::function<void(int64_t done, int64_t total, double eps)>;

// Attacks `data` once per budget, in increasing order. An example broken at a smaller budget is
// broken at every larger one (its example lies in the larger ball), so only the examples still
// robust are attacked again: robust accuracy never rises with the budget.
std::vector<AttackRun> run_attack(const Model& model, const Dataset& data,
                                  const AttackFactory& factory, std::vector<double> budgets,
                                  const AttackRunOptions& options,
                                  const RunProgress& progress = {});

}  // namespace advtk
