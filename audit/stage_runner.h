// What a stage does its work through: progress, the stage store (save, read back, resume), the
// seeding of torch's global generator, and an attack run batch by batch over the audit's
// examples, each batch saved as it finishes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attacks/attack_runner.h"
#include "audit/audit_stage.h"

namespace advtk {

// One attack over some of the audit's examples at one budget, assembled from its saved batches.
struct BudgetOutcome {
  torch::Tensor success, pred, l2, linf, l1, distance;  // [rows] CPU
  torch::Tensor x_adv;  // [rows, C, H, W] model range (only when kept)
  int64_t forward = 0, backward = 0;
};

struct BatchedRun {
  std::vector<BudgetOutcome> budgets;
  double seconds = 0.0;
  nlohmann::json parameters;  // per budget
};

class StageRunner {
 public:
  StageRunner(const AuditSetup& setup, StageStore& store, const AuditProgress& progress,
              const AuditSaved& saved, int stage_count)
      : setup_(setup), store_(store), progress_(progress), saved_(saved), count_(stage_count) {}

  // A new progress step; `add_steps`: steps a stage found it needs while running.
  void begin(const std::string& label);
  void add_steps(int k) { count_ += k; }
  void report(int64_t done, int64_t total) const;
  // A step within the current one, shown as `label` (the masking check's own stages).
  void report_sub(const std::string& label) const;

  // Seeds torch's global generator (which a randomised model draws from) from the audit's seed
  // and a stage or batch name, so each draws the same whether earlier work ran or was resumed.
  void seed_global_generator(const std::string& name) const;

  std::optional<nlohmann::json> json(const std::string& name) const { return store_.json(name); }
  std::optional<TensorMap> tensors(const std::string& name) const { return store_.tensors(name); }
  void save(const std::string& name, const nlohmann::json& j, const TensorMap& tensors = {});
  // The section saved under `name`, measured and saved first when the store lacks it; a
  // measurement that throws advtk::Error is saved as {"skipped": true, "reason": …}.
  nlohmann::json measured(const std::string& name,
                          const std::function<nlohmann::json(TensorMap& tensors)>& measure);

  // Runs (or reads back) the attack `make` builds on the examples at positions `rows` (CPU
  // int64, ascending), one batch at a time, saved as NAME/batch-K; outcomes follow rows.
  // `judge_passes` > 1: success is decided again by a majority over that many passes (a
  // randomised model), before the batch is saved. `keep_x_adv`: every budget's points too.
  BatchedRun attack_in_batches(const std::string& name, const AttackFactory& make,
                               const std::vector<double>& budgets, const torch::Tensor& rows,
                               bool keep_x_adv, int64_t judge_passes = 1);

 private:
  const AuditSetup& setup_;
  StageStore& store_;
  const AuditProgress& progress_;
  const AuditSaved& saved_;
  int count_;
  int index_ = 0;
  std::string label_;
};

}  // namespace advtk
