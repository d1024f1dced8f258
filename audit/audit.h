// `advtk audit`: a full robustness audit of one model on one dataset, stage by stage, resumable.
//
// Sections (each a key of the report, each written by a stage of audit_stages.cpp): model and
// data, adversarial testing (FGSM, PGD, APGD-CE, APGD-T, Square at every budget, the per-example
// worst case, minimum-norm distributions from DeepFool and CW-L2, per-class robust accuracy, the
// most fragile examples), robustness verification (the gradient-masking detector and, when it
// finds masking, the adaptive attacks), numerical exploitation and convergence (sharpness). Every
// stage, and every batch of an attack stage, is saved under DIR/stages as it finishes, and a
// resumed audit reads it back: per-example seeds make the numbers of an interrupted-and-resumed
// audit exactly those of an uninterrupted one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/threat_model.h"
#include "audit/audit_plan.h"
#include "data/dataset.h"
#include "distributed/process_group.h"
#include "models/model.h"

namespace advtk {

struct AuditOptions {
  AuditBudget budget = AuditBudget::Standard;
  AuditPlan plan = audit_plan(AuditBudget::Standard);
  Norm norm = Norm::Linf;
  std::vector<double> eps;  // ascending; empty: default_audit_budgets
  double main_eps = 0.0;    // 0: the middle budget
  int64_t batch_size = 250;
  uint64_t seed = 0;
  std::set<std::string> skip;           // stages left out, by their keys (audit_skip_keys)
  const Model* surrogate = nullptr;     // masking: transfer source
  const Model* bpda_model = nullptr;    // masking: the defense with its preprocessing under BPDA
  const Dataset* train_data = nullptr;  // training security: the training set to scan, if given
  nlohmann::json model_info;            // path, sha256, ...: recorded in the report and the config
  std::string out;                      // DIR
  // Several processes share the attack stages' batches (null: this one alone); each keeps its
  // resumable store in store_dir (empty: DIR), and every rank ends with every batch saved.
  const ProcessGroup* group = nullptr;
  std::string store_dir;
  bool resume = false;
  int64_t fragile_examples = 8;
};

// The keys --skip takes, in the stages' order: min-norm, masking, sharpness.
std::vector<std::string> audit_skip_keys();
void check_skip_keys(const std::set<std::string>& skip);  // throws advtk::Error naming the keys

// Progress: the stage running ("pgd eps 0.1"), its index and the stage count, and work done
// within it (done, total; total 0 when unknown).
using AuditProgress = std::function<void(const std::string& stage, int index, int count,
                                         int64_t done, int64_t total)>;
// Called after each save (stage or batch); tests use it to interrupt an audit.
using AuditSaved = std::function<void(const std::string& name)>;

struct AuditResult {
  nlohmann::json report;                           // the report.json document
  std::map<std::string, std::vector<char>> files;  // beside it: fragile.png when any was found
};

AuditResult run_audit(const Model& model, const Dataset& data, const AuditOptions& options,
                      const AuditProgress& progress = {}, const AuditSaved& saved = {});

// A rough upper bound on the audit's work, in forward+backward passes per example times the
// examples, for the time estimate before starting: the sum of its stages' estimates.
double audit_work_estimate(const AuditOptions& options, int64_t examples, int64_t num_classes);

// The same bound for the adaptive attacks a `masked` or `suspect` verdict adds (every rung of
// the masking check's ladder on every example at every budget); 0 when masking is skipped.
double audit_adaptive_work_estimate(const AuditOptions& options, int64_t examples,
                                    int64_t num_classes);

}  // namespace advtk
