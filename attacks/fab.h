// FAB, the fast adaptive boundary attack (Croce & Hein 2020, "Minimally distorted adversarial
// examples with a fast adaptive boundary attack", ICML), for Linf, L2 and L1, as in AutoAttack.
// Each step linearises the classifier at the current point, picks the nearest linearised decision
// boundary, projects both the current point and the clean point onto that hyperplane intersected
// with the box (exact projections), and moves to a mix of the two projections (biased towards the
// clean point by at most alpha_max), overshooting by eta; once a step crosses the boundary the
// point is pulled back towards the clean point by beta. The smallest adversarial point is kept.
// Restarts from the second on start at a random point at distance eps/2 (in the attack's norm).
// Untargeted FAB linearises the boundaries between y and every other class. FAB-T (targeted =
// true) linearises only the boundary between y and one target: the clean logits' 2nd, 3rd, ...
// most likely classes one after another, each only on the examples not broken yet; it succeeds
// on any misclassification. A defined batch.target is attacked instead (success = that class);
// since it must beat every class, each step linearises its boundary with the strongest other
// class at the current point rather than with y.
//
// The budget: an example succeeds only when the point found is adversarial and within eps; the
// others get x_adv = x. After each run a binary search on the segment between x and the point
// found shrinks the perturbation while it stays adversarial (the original FAB code's final
// search; AutoAttack's FAB has none: final_search_steps = 0 gives AutoAttack's algorithm).
// Defaults as in AutoAttack: 100 steps, 1 restart, alpha_max 0.1, eta 1.05, beta 0.9, 9 targets.
//
// Example: Fab fab({ThreatModel{Norm::Linf, 8.0 / 255}}); AttackResult r = fab.run(model, batch);
#pragma once

#include "attacks/attack.h"
#include "attacks/attack_info.h"

namespace advtk {

struct FabOptions {
  ThreatModel threat;
  int64_t steps = 100;
  int64_t restarts = 1;
  double alpha_max = 0.1;  // the largest weight of the clean point's projection in a step
  double eta = 1.05;       // overshoot past the linearised boundary
  double beta = 0.9;       // pull-back towards x after a step that crossed the boundary
  bool targeted = false;   // FAB-T
  int64_t target_classes = 9;
  int64_t final_search_steps = 10;  // bisection steps between x and each point found; 0: none
  uint64_t seed = 0;
  // FAB-T with one restart: run consecutive targets in one stacked batch of at most
  // `stack_rows` rows and keep, per example, the first target (in rank order) that broke it —
  // the result of running them one after another, without nine rounds of small batches when
  // few examples are left.
  bool batch_targets = true;
  int64_t stack_rows = 256;
};

class Fab : public Attack {
 public:
  explicit Fab(FabOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return options_.targeted ? "fab-t" : "fab"; }
  Norm norm() const override { return options_.threat.norm; }
  double budget() const override { return options_.threat.eps; }
  nlohmann::json parameters() const override;
  const FabOptions& options() const { return options_; }

 private:
  FabOptions options_;
};

// The smallest step d (in `norm`) that takes each row of t [M, D] onto its hyperplane
// {z : w·(z - t) = -c} while keeping lo <= t + d <= hi; w [M, D], c [M]. Exact for the three
// norms. When the box keeps a row from reaching its hyperplane, d moves every coordinate with
// w != 0 to the bound that brings w·z closest to the hyperplane. Coordinates with w = 0 stay.
torch::Tensor hyperplane_box_step(Norm norm, const torch::Tensor& t, const torch::Tensor& w,
                                  const torch::Tensor& c, double lo, double hi);

// The registry's entries "fab" and "fab-t".
AttackInfo fab_info(bool targeted);

}  // namespace advtk
