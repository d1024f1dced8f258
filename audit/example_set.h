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

// Writes the files above into `dir` (created), each atomically.
void write_example_set(const std::string& dir, const AttackRun& run, const Dataset& data,
                       const nlohmann::json& summary);

}  // namespace advtk
