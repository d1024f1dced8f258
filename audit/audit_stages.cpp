#include "audit/audit_stages.h"

#include <algorithm>

#include "attacks/registry.h"

namespace advtk {
namespace {

// The fixed-budget attacks for `norm` (those that support it): fgsm (fgm for L2), pgd, apgd,
// apgd-t, square. APGD-T's targeted DLR loss needs 4 classes (it scales by
// z_π1 − (z_π3 + z_π4)/2): with 3 the untargeted DLR loss takes its place; with 2 neither exists.
std::vector<std::string> standard_attacks(Norm norm, int64_t classes, nlohmann::json& skipped) {
  std::vector<std::string> names;
  for (const std::string n :
       {norm == Norm::L2 ? "fgm" : "fgsm", "pgd", "apgd", "apgd-t", "square"}) {
    const AttackInfo& info = find_attack(n);
    if (std::find(info.norms.begin(), info.norms.end(), norm) != info.norms.end())
      names.push_back(n);
  }
  const auto apgd_t = std::find(names.begin(), names.end(), "apgd-t");
  if (classes < 4 && apgd_t != names.end()) {
    const std::string why =
        "the targeted DLR loss needs at least 4 classes, the model has " + std::to_string(classes);
    if (classes == 3) {
      *apgd_t = "apgd-dlr";
      skipped.push_back({{"attack", "apgd-t"}, {"reason", why}, {"replaced_by", "apgd-dlr"}});
    } else {
      names.erase(apgd_t);
      skipped.push_back({{"attack", "apgd-t"}, {"reason", why + " (and the DLR loss at least 3)"}});
    }
  }
  return names;
}

}  // namespace

std::vector<std::unique_ptr<AuditStage>> audit_stages(const AuditOptions& options, int64_t classes,
                                                      nlohmann::json* skipped_attacks) {
  nlohmann::json skipped = nlohmann::json::array();
  std::vector<std::unique_ptr<AuditStage>> stages;
  stages.push_back(clean_stage());
  for (const std::string& a : standard_attacks(options.norm, classes, skipped))
    stages.push_back(attack_stage(a));
  stages.push_back(min_norm_stage("deepfool"));
  stages.push_back(min_norm_stage("cw"));
  stages.push_back(masking_stage());
  stages.push_back(adaptive_stage());
  stages.push_back(worst_case_stage());
  stages.push_back(numerical_stage());
  stages.push_back(sharpness_stage());
  stages.push_back(leakage_stage());
  stages.push_back(training_security_stage());
  stages.push_back(sanity_checks_stage());
  if (skipped_attacks) *skipped_attacks = skipped;
  return stages;
}

}  // namespace advtk
