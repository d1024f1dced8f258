// Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
// diverse parameter-free attacks"): PGD without a step-size parameter. The step starts at 2·ε
// (Linf, L2) and is halved at checkpoints w_j (p_0 = 0, p_1 = 0.22, p_{j+1} = p_j +
// max(p_j - p_{j-1} - 0.03, 0.06)) when fewer than ρ = 75% of the steps since the last checkpoint
// raised the loss, or when the step was not halved last time and the best loss has not improved;
// halving restarts from the best point. Momentum α = 0.75 after the first step. L1 (Croce & Hein
// 2021, "Mind the box"): the sparse step over the top-k coordinates with k and the step adapted
// every 4% of the iterations. Defaults as AutoAttack: 100 iterations, 1 restart, CE loss.
//
//   apgd    untargeted, CE or DLR loss (`loss`); a given batch.target makes it targeted.
//   apgd-t  targeted DLR towards each of the `target_classes` (9) most likely other classes in
//           turn, only on the examples not yet broken; success = any misclassification.
//
// Example: Apgd attack({ThreatModel{Norm::Linf, 8.0 / 255}}); AttackResult r = attack.run(m, b);
#pragma once

#include "attacks/attack.h"
#include "attacks/attack_info.h"
#include "attacks/losses.h"

namespace advtk {

struct ApgdOptions {
  ThreatModel threat;
  int64_t steps = 100;
  int64_t restarts = 1;
  LossKind loss = LossKind::CrossEntropy;  // apgd-t always uses the targeted DLR loss
  bool targeted = false;                   // apgd-t
  int64_t target_classes = 9;
  double rho = 0.75;
  int64_t eot = 1;  // gradient passes averaged per step (randomised models)
  // L1 only, as AutoAttack's L1 preset: 30% of the iterations at 3ε, 30% at 2ε, the rest at ε,
  // each stage starting from the previous one's best point projected into its ball.
  bool large_reps = false;
  uint64_t seed = 0;
};

class Apgd : public Attack {
 public:
  explicit Apgd(ApgdOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return options_.targeted ? "apgd-t" : "apgd"; }
  Norm norm() const override { return options_.threat.norm; }
  double budget() const override { return options_.threat.eps; }
  nlohmann::json parameters() const override;

 private:
  // One run of `steps` iterations in the ball of radius `eps` from `start` (undefined: a random
  // start) on `sub`. With `record`, successes go into `result` at rows `idx` and broken examples
  // leave the run, and the others' highest-loss point replaces their reported point when its
  // loss beats `reported_loss` [N]; without, every example runs to the end. Returns the
  // highest-loss points.
  torch::Tensor single_run(const Model& model, const AttackBatch& sub, const torch::Tensor& idx,
                           const torch::Tensor& loss_target, uint64_t stream, double eps,
                           int64_t steps, const torch::Tensor& start, bool record,
                           AttackResult& result, torch::Tensor& reported_loss) const;

  ApgdOptions options_;
};

// The iterations at which APGD checks its step size, for `steps` iterations (Linf/L2).
std::vector<int64_t> apgd_checkpoints(int64_t steps);

// The registry's entries "apgd" and "apgd-t".
AttackInfo apgd_info(bool targeted);

}  // namespace advtk
