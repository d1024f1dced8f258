#include "audit/audit_plan.h"

#include "core/error.h"

namespace advtk {

AuditBudget parse_audit_budget(const std::string& name) {
  if (name == "quick") return AuditBudget::Quick;
  if (name == "standard") return AuditBudget::Standard;
  if (name == "thorough") return AuditBudget::Thorough;
  throw Error("--budget: expected quick, standard or thorough, got '" + name + "'");
}

std::string audit_budget_name(AuditBudget budget) {
  switch (budget) {
    case AuditBudget::Quick:
      return "quick";
    case AuditBudget::Standard:
      return "standard";
    case AuditBudget::Thorough:
      return "thorough";
  }
  return "?";
}

AuditPlan audit_plan(AuditBudget budget) {
  AuditPlan p;  // standard: the papers' reference parameters
  if (budget == AuditBudget::Quick) {
    p.default_examples = 200;
    p.pgd_steps = 20;
    p.apgd_steps = 50;
    p.target_classes = 3;
    p.square_queries = 1000;
    p.deepfool_examples = 200;
    p.cw_examples = 50;
    p.masking_points = 100;
    p.masking_expensive_points = 20;
    p.masking_pgd_steps = 20;
    p.masking_apgd_steps = 50;
    p.masking_queries = 1000;
    p.masking_noise_draws = 1000;
    p.numerical_examples = 200;
    p.sharpness_examples = 256;
    p.sharpness_iterations = 20;
    p.sharpness_pairs = 5;
    p.leakage_batches = 2;
    p.leakage_dlg_iterations = 50;
    p.leakage_ig_iterations = 300;
    p.backdoor_nc_steps = 150;
    p.backdoor_nc_batch = 16;
    p.backdoor_clean_inputs = 200;
  } else if (budget == AuditBudget::Thorough) {
    p.default_examples = 10000;
    p.pgd_steps = 100;
    p.pgd_restarts = 5;
    p.apgd_restarts = 5;
    p.square_queries = 10000;
    p.deepfool_examples = 10000;
    p.cw_examples = 1000;
    p.cw_full_search = true;
    p.masking_points = 1000;
    p.masking_expensive_points = 200;
    p.numerical_examples = 1000;
    p.sharpness_examples = 2000;
    p.sharpness_iterations = 100;
    p.sharpness_pairs = 20;
    p.leakage_batches = 8;
    p.leakage_batches_of_8 = 2;
    p.backdoor_nc_steps = 1000;
    p.backdoor_clean_inputs = 1000;
  }
  return p;
}

std::vector<double> default_audit_budgets(Norm norm, const std::vector<int64_t>& shape,
                                          double range) {
  const bool colour = !shape.empty() && shape[0] >= 3;
  std::vector<double> b;
  switch (norm) {
    case Norm::Linf:
      b = colour ? std::vector<double>{2 / 255.0, 4 / 255.0, 8 / 255.0, 16 / 255.0}
                 : std::vector<double>{0.05, 0.1, 0.2};
      break;
    case Norm::L2:
      b = colour ? std::vector<double>{0.25, 0.5, 1.0} : std::vector<double>{0.5, 1.0, 2.0};
      break;
    case Norm::L1:
      b = colour ? std::vector<double>{3.0, 6.0, 12.0} : std::vector<double>{2.5, 5.0, 10.0};
      break;
  }
  for (double& e : b) e *= range;
  return b;
}

}  // namespace advtk
