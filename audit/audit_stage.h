// One section of the audit. A stage reads the setup (the normalised options and the facts
// decided before any stage runs) and what earlier stages produced; it does its work through the
// StageRunner, which times, saves and resumes it; and it returns its report sections, its
// per-example records and its files. The stages, in order, are listed in audit_stages.cpp;
// run_audit (audit.cpp) runs them and assembles the report.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attacks/attack_info.h"
#include "audit/audit.h"
#include "audit/stage_store.h"
#include "data/dataset.h"
#include "diagnostics/masking.h"
#include "models/model.h"

namespace advtk {

class StageRunner;

// How a stage's work divides when a run is spread over processes.
enum class StageScope {
  PerExample,  // one outcome per audit example, saved batch by batch: splits over examples
  PointSet,    // its own sample of the examples (the masking check): splits over its points
  WholeModel,  // the model or the data as a whole (numerical probes, sharpness, sanity checks)
  Summary,     // reads only the other stages' records (the worst case): runs where they meet
};

// The examples one attack broke at each of the audit's budgets: [N] bool over the audit's
// examples by position, limited to the clean-correct ones; undefined at a budget the record does
// not cover (the masking check below its budget). Records of a split run join by concatenating
// each budget's tensor in position order.
struct BreakRecord {
  std::string source;                 // "pgd", "deepfool", "masking-check", "adaptive R3 bpda pgd"
  std::string attack_set;             // "standard", "min-norm", "masking-check", "adaptive"
  std::vector<torch::Tensor> broken;  // one per budget
  // On a randomised model, the points behind `broken` ([N, C, H, W] model range, per budget):
  // the worst case confirms each break by a fresh vote.
  std::vector<torch::Tensor> x_adv;
};

// What every stage reads.
struct AuditSetup {
  AuditSetup(const Model& m, const Dataset& d, AuditOptions o)
      : model(m), data(d), options(std::move(o)) {}

  const Model& model;
  const Dataset& data;
  AuditOptions options;   // eps ascending and unique; main_eps one of them
  size_t main_index = 0;  // of main_eps in options.eps
  int64_t classes = 0;    // the data's or the model's outputs, whichever is larger
  // A randomised model: verdicts are majorities over `passes`, gradients average `eot` passes.
  bool randomised = false;
  int64_t passes = 1, eot = 1;
  torch::Tensor ids;       // the data's example ids
  MaskingOptions masking;  // the masking check, at main_eps

  int64_t examples() const { return data.size(); }
  double lo() const { return model.options().input_lo; }
  double hi() const { return model.options().input_hi; }
  // The audit's norm, the model's input range and the seed; the budget is the attack's to set.
  AttackSetup attack_setup() const;
};

// What the stages have produced so far.
struct AuditState {
  torch::Tensor clean_correct;  // [N] bool (by a majority on a randomised model): the clean stage
  std::vector<BreakRecord> breaks;
  nlohmann::json report = nlohmann::json::object();  // the sections so far
};

struct StageOutput {
  // Report sections; an array under a key an earlier stage wrote is appended to (the attacks).
  nlohmann::json sections = nlohmann::json::object();
  nlohmann::json seconds = nlohmann::json::object();  // the environment's stage_seconds entries
  torch::Tensor clean_correct;                        // the clean stage only
  std::vector<BreakRecord> breaks;
  std::map<std::string, std::vector<char>> files;  // written beside report.json (fragile.png)
};

class AuditStage {
 public:
  virtual ~AuditStage() = default;
  // Its resume key: what it saves sits under this name (and NAME/batch-K) in the stage store.
  virtual std::string name() const = 0;
  // `--skip KEY` leaves it out; "" when it cannot be skipped.
  virtual std::string skip_key() const { return {}; }
  virtual StageScope scope() const = 0;
  // Upper bounds in forward+backward example passes, for the estimate before starting; the
  // conditional work is done only when earlier stages call for it (the adaptive attacks).
  virtual double work(const AuditOptions& o, int64_t examples, int64_t classes) const = 0;
  virtual double conditional_work(const AuditOptions&, int64_t, int64_t) const { return 0.0; }
  // The progress steps (StageRunner::begin calls) it announces up front.
  virtual int progress_steps() const { return 1; }
  virtual StageOutput run(const AuditSetup& setup, const AuditState& state,
                          StageRunner& runner) const = 0;
  // The sections the report holds when --skip leaves it out.
  virtual StageOutput skipped() const { return {}; }
};

// A forward pass costs about a third of a forward+backward pass (work estimates).
inline constexpr double kForwardOnlyWork = 0.35;

inline double fraction(const torch::Tensor& mask) {
  return mask.numel() == 0 ? 0.0 : mask.to(torch::kDouble).mean().item<double>();
}

}  // namespace advtk
