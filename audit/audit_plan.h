// How much work an audit does: the budget presets (quick, standard, thorough), the work of each
// stage under each, and the default perturbation budgets for an input shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/threat_model.h"

namespace advtk {

enum class AuditBudget { Quick, Standard, Thorough };
AuditBudget parse_audit_budget(const std::string& name);  // throws advtk::Error
std::string audit_budget_name(AuditBudget budget);

// How much work each stage does; the presets follow the reference parameters of each paper at
// `standard` (AutoAttack's APGD 100 iterations, 9 targets, Square 5,000 queries).
struct AuditPlan {
  int64_t default_examples = 1000;  // when the user gives no --limit
  int64_t pgd_steps = 40, pgd_restarts = 1;
  int64_t apgd_steps = 100, apgd_restarts = 1;
  int64_t target_classes = 9;
  int64_t square_queries = 5000;
  int64_t deepfool_examples = 1000;
  int64_t cw_examples = 200, cw_binary_steps = 9, cw_steps = 100;
  bool cw_full_search = false;  // every c of the bisection, not only up to the first success
  int64_t masking_points = 500, masking_expensive_points = 100;
  int64_t masking_pgd_steps = 50, masking_apgd_steps = 100, masking_queries = 5000;
  int64_t masking_noise_draws = 10000;
  int64_t numerical_examples = 500;
  int64_t sharpness_examples = 1000, sharpness_iterations = 50, sharpness_pairs = 10;
  // Gradient exposure: clients of batch 1 (each under every defense of the table) and of batch 8;
  // iDLG's L-BFGS steps and Inverting Gradients' iterations (the papers': 300 and 4,000).
  int64_t leakage_batches = 4, leakage_batches_of_8 = 1;
  int64_t leakage_dlg_iterations = 300, leakage_ig_iterations = 4000;
  // Training security: Neural Cleanse's steps and clean inputs per class per step (the
  // authors' batch is 32), over at most backdoor_clean_inputs of the audit's examples.
  int64_t backdoor_nc_steps = 600, backdoor_nc_batch = 32, backdoor_clean_inputs = 500;
};
// Every field, by name: the plan is recorded in the report and keys resumes.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AuditPlan, default_examples, pgd_steps, pgd_restarts, apgd_steps,
                                   apgd_restarts, target_classes, square_queries, deepfool_examples,
                                   cw_examples, cw_binary_steps, cw_steps, cw_full_search,
                                   masking_points, masking_expensive_points, masking_pgd_steps,
                                   masking_apgd_steps, masking_queries, masking_noise_draws,
                                   numerical_examples, sharpness_examples, sharpness_iterations,
                                   sharpness_pairs, leakage_batches, leakage_batches_of_8,
                                   leakage_dlg_iterations, leakage_ig_iterations, backdoor_nc_steps,
                                   backdoor_nc_batch, backdoor_clean_inputs)
AuditPlan audit_plan(AuditBudget budget);

// The default budgets for inputs of shape [C, H, W] in a range of width `range`: Linf
// 0.05/0.1/0.2 for grey images and 2, 4, 8, 16 /255 for colour ones; L2 0.5/1/2 (grey) and
// 0.25/0.5/1 (colour); L1 2.5/5/10 and 3/6/12 — each times the range.
std::vector<double> default_audit_budgets(Norm norm, const std::vector<int64_t>& shape,
                                          double range);

}  // namespace advtk
