// FMN, the fast minimum-norm attack (Pintor, Roli, Brendel & Biggio 2021, "Fast Minimum-norm
// Adversarial Attacks through Adaptive Norm Constraints"), for Linf, L2 and L1.
//
// Gradient steps on the logit difference z_y − max_{j≠y} z_j (towards z_t for a target), each
// normalised to unit L2 norm and projected onto an Lp ball whose radius ε adapts per example:
// before the first adversarial point, ε jumps to the first-order distance to the boundary,
// ‖δ‖ + |loss|/‖∇‖_dual (at least ‖δ‖(1 + γ): ours, so that a point left exactly on a flat
// boundary moves on); then it shrinks by (1 − γ) while the point is adversarial (never above
// the best norm found) and grows by (1 + γ) while it is not. The step α and the rate γ decay by
// cosine annealing, α from 1 to 0.01 and γ from 0.05 to 0.001, over 100 steps (the paper's and
// Foolbox's defaults). Minimum-norm: it reports the smallest adversarial perturbation seen.
#pragma once

#include "attacks/attack.h"
#include "attacks/attack_info.h"

namespace advtk {

struct FmnOptions {
  Norm norm = Norm::L2;
  int64_t steps = 100;
  double alpha_init = 1.0;
  double alpha_final = -1;  // <= 0: alpha_init / 100
  double gamma_init = 0.05;
  double gamma_final = 0.001;
  double lo = 0.0, hi = 1.0;
};

class Fmn : public Attack {
 public:
  explicit Fmn(FmnOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "fmn"; }
  Norm norm() const override { return options_.norm; }
  bool minimum_norm() const override { return true; }
  double budget() const override { return std::numeric_limits<double>::infinity(); }
  nlohmann::json parameters() const override;

 private:
  FmnOptions options_;
};

// The registry's entry "fmn".
AttackInfo fmn_info();

}  // namespace advtk
