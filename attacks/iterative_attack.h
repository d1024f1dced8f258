// The one loop behind FGSM, R+FGSM, PGD, CW-Linf and MI-FGSM: start → loss → input gradient →
// step (a StepPolicy: steepest, or with momentum) → projection, with the strongest iterate kept per
// example and finished examples leaving the batch (early stopping).
//
//   fgsm   Goodfellow, Shlens & Szegedy 2015: one step of size ε from x (Linf; "fgm" for L2).
//   rfgsm  Tramèr et al. 2018: a random-sign step of ε/2, then one gradient step of ε/2.
//   pgd    Madry et al. 2018: uniform random start in the ball, `steps` steps of 2.5·ε/steps,
//          `restarts` restarts; CE by default.
//   cw-linf  PGD with the Carlini-Wagner margin loss (Carlini & Wagner 2017, Madry et al. 2018).
//   mi-fgsm  Dong et al. 2018: from x, 10 steps of ε/10 along the sign of the accumulated
//            gradient g ← μ·g + ∇/‖∇‖₁, μ = 1.
//
// Adversarial training (defenses/) crafts its examples with this loop too: PGD-AT, RS-FGSM
// (uniform start, one step of 1.25·ε) and TRADES (kl loss from a small Gaussian start).
//
// Example: auto pgd = make_pgd({ThreatModel{Norm::Linf, 8.0 / 255}, 40});
//          AttackResult r = pgd->run(model, batch);
#pragma once

#include <memory>

#include "attacks/attack.h"
#include "attacks/attack_info.h"
#include "attacks/losses.h"

namespace advtk {

// UniformBall: uniform in the ball; RandomSign: a steepest step of start_radius along Gaussian
// noise (R+FGSM); Gaussian: x + start_radius·N(0, I), projected (TRADES' 0.001).
enum class StartKind { None, UniformBall, RandomSign, Gaussian };

struct IterativeAttackOptions {
  ThreatModel threat;
  int64_t steps = 10;
  double step_size = -1;  // <= 0: 2.5 · eps / steps (Madry et al.)
  StartKind start = StartKind::UniformBall;
  double start_radius = -1;  // RandomSign: step size (<= 0: eps / 2); Gaussian: σ (<= 0: 0.001)
  int64_t restarts = 1;
  LossSpec loss;
  // On: an example leaves the batch at its first successful iterate (robust accuracy unchanged).
  // Off: every example runs every step; the highest-loss successful iterate is kept (or the
  // highest-loss iterate when none succeeded).
  bool early_stop = true;
  int64_t eot = 1;  // gradient passes averaged per step (EOT, for randomised models)
  // > 0: estimate each step's gradient from 2·samples loss values instead of autograd
  // (smoothed_loss_gradient, Gaussian scale smoothing_sigma; <= 0: ε/4).
  int64_t smoothing_samples = 0;
  double smoothing_sigma = 0;
  double l1_sparsity = 0.01;  // L1 steps touch the top 1% coordinates (SLIDE's 99th percentile)
  double momentum = 0;        // > 0: steps follow the accumulated gradient with this decay (MI)
  uint64_t seed = 0;
  std::string name = "pgd";
};

class IterativeGradientAttack : public Attack {
 public:
  explicit IterativeGradientAttack(IterativeAttackOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return options_.name; }
  Norm norm() const override { return options_.threat.norm; }
  double budget() const override { return options_.threat.eps; }
  nlohmann::json parameters() const override;
  const IterativeAttackOptions& options() const { return options_; }

 private:
  IterativeAttackOptions options_;
};

// `eot`: gradient passes averaged for the step (randomised models).
std::unique_ptr<Attack> make_fgsm(const ThreatModel& threat, LossSpec loss = {}, int64_t eot = 1);
std::unique_ptr<Attack> make_rfgsm(const ThreatModel& threat, uint64_t seed, LossSpec loss = {},
                                   int64_t eot = 1);
std::unique_ptr<Attack> make_pgd(IterativeAttackOptions options);

// The registry's entries: fgsm (Linf), fgm (L2, L1), rfgsm, pgd, cw-linf, mi-fgsm.
AttackInfo fgsm_info();
AttackInfo fgm_info();
AttackInfo rfgsm_info();
AttackInfo pgd_info();
AttackInfo cw_linf_info();
AttackInfo mi_fgsm_info();

}  // namespace advtk
