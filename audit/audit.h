// `advtk audit`: a full robustness audit of one model on one dataset, stage by stage, resumable.
//
// Sections (each a key of the report): model and data, adversarial testing (FGSM, PGD, APGD-CE,
// APGD-T, Square at every budget, the per-example worst case, minimum-norm distributions from
// DeepFool and CW-L2, per-class robust accuracy, the most fragile examples), robustness
// verification (the gradient-masking detector), numerical exploitation and convergence
// (sharpness). Every stage, and every batch of an attack stage, is saved under DIR/stages as it
// finishes, and a resumed audit reads it back: per-example seeds make the numbers of an
// interrupted-and-resumed audit exactly those of an uninterrupted one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/threat_model.h"
#include "data/dataset.h"
#include "models/model.h"

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
};
// Every field, by name: the plan is recorded in the report and keys resumes.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AuditPlan, default_examples, pgd_steps, pgd_restarts, apgd_steps,
                                   apgd_restarts, target_classes, square_queries, deepfool_examples,
                                   cw_examples, cw_binary_steps, cw_steps, cw_full_search,
                                   masking_points, masking_expensive_points, masking_pgd_steps,
                                   masking_apgd_steps, masking_queries, masking_noise_draws,
                                   numerical_examples, sharpness_examples, sharpness_iterations,
                                   sharpness_pairs)
AuditPlan audit_plan(AuditBudget budget);

// The default budgets for inputs of shape [C, H, W] in a range of width `range`: Linf
// 0.05/0.1/0.2 for grey images and 2, 4, 8, 16 /255 for colour ones; L2 0.5/1/2 (grey) and
// 0.25/0.5/1 (colour); L1 2.5/5/10 and 3/6/12 — each times the range.
std::vector<double> default_audit_budgets(Norm norm, const std::vector<int64_t>& shape,
                                          double range);

struct AuditOptions {
  AuditBudget budget = AuditBudget::Standard;
  AuditPlan plan = audit_plan(AuditBudget::Standard);
  Norm norm = Norm::Linf;
  std::vector<double> eps;  // ascending; empty: default_audit_budgets
  double main_eps = 0.0;    // 0: the middle budget
  int64_t batch_size = 250;
  uint64_t seed = 0;
  bool masking = true, sharpness = true, min_norm = true;
  const Model* surrogate = nullptr;   // masking: transfer source
  const Model* bpda_model = nullptr;  // masking: the defense with its preprocessing under BPDA
  nlohmann::json model_info;          // path, sha256, ...: recorded in the report and the config
  std::string out;                    // DIR
  bool resume = false;
  int64_t fragile_examples = 8;
};

// Progress: the stage running ("pgd eps 0.1"), its index and the stage count, and work done
// within it (done, total; total 0 when unknown).
using AuditProgress = std::function<void(const std::string& stage, int index, int count,
                                         int64_t done, int64_t total)>;
// Called after each save (stage or batch); tests use it to interrupt an audit.
using AuditSaved = std::function<void(const std::string& name)>;

struct AuditResult {
  nlohmann::json report;       // the report.json document
  std::vector<char> grid_png;  // the fragile examples (empty when none were found)
};

AuditResult run_audit(const Model& model, const Dataset& data, const AuditOptions& options,
                      const AuditProgress& progress = {}, const AuditSaved& saved = {});

// The attacks run at every budget for `norm` (those that support it): fgsm (fgm for L2), pgd,
// apgd, apgd-t, square.
std::vector<std::string> audit_attacks(Norm norm);

// A rough upper bound on the audit's work, in forward+backward passes per example times the
// examples, for the time estimate before starting.
double audit_work_estimate(const AuditOptions& options, int64_t examples, int64_t num_classes);

// The same bound for the adaptive attacks a `masked` or `suspect` verdict adds (every rung of
// the masking check's ladder on every example at every budget); 0 when masking is skipped.
double audit_adaptive_work_estimate(const AuditOptions& options, int64_t examples,
                                    int64_t num_classes);

}  // namespace advtk
