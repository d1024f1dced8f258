// How a gradient loop turns the gradient of the loss it ascends into its next iterate (before
// projection), with any per-example state the rule keeps (carried by the loop's active set).
// One implementation of each rule, shared by the loops:
//   SteepestAscent — sign (Linf), normalised (L2), sparse SLIDE (L1) steps of a fixed size (PGD);
//   MomentumAscent — MI-FGSM (Dong et al. 2018): g ← μ·g + ∇/‖∇‖₁, then the steepest step
//                    along g;
//   AdamAscent     — Adam (Kingma & Ba 2015: β 0.9/0.999, ε 1e-8), elementwise, with a step-size
//                    schedule (CW-L2's cosine-annealed rate);
//   heavy_ball     — APGD's momentum between iterates (Croce & Hein 2020, eq. 2).
// A loop that minimises (CW) ascends the negated gradient.
#pragma once

#include <cstdint>
#include <functional>

#include "attacks/active_set.h"
#include "attacks/threat_model.h"

namespace advtk {

class StepPolicy {
 public:
  virtual ~StepPolicy() = default;
  // Registers its per-example state, so that it narrows with the loop's examples.
  virtual void carry(ActiveSet&) {}
  // The next iterate from x and the gradient at x, at step `step` (1-based).
  virtual torch::Tensor next(const torch::Tensor& x, const torch::Tensor& grad, int64_t step) = 0;
};

class SteepestAscent : public StepPolicy {
 public:
  // `step_size`: a scalar or one per example [N].
  SteepestAscent(Norm norm, torch::Tensor step_size, double l1_sparsity)
      : norm_(norm), step_size_(std::move(step_size)), l1_sparsity_(l1_sparsity) {}
  torch::Tensor next(const torch::Tensor& x, const torch::Tensor& grad, int64_t step) override;

 protected:
  Norm norm_;
  torch::Tensor step_size_;
  double l1_sparsity_;
};

class MomentumAscent final : public SteepestAscent {
 public:
  // `like`: the iterate, for the shape of the accumulated gradient (zero at the start).
  MomentumAscent(Norm norm, torch::Tensor step_size, double l1_sparsity, double decay,
                 const torch::Tensor& like)
      : SteepestAscent(norm, std::move(step_size), l1_sparsity),
        decay_(decay),
        accumulated_(torch::zeros_like(like)) {}
  void carry(ActiveSet& active) override { active.carry(accumulated_); }
  torch::Tensor next(const torch::Tensor& x, const torch::Tensor& grad, int64_t step) override;

 private:
  double decay_;
  torch::Tensor accumulated_;
};

class AdamAscent final : public StepPolicy {
 public:
  // `learning_rate(step)`: the step size at step 1, 2, ...
  AdamAscent(const torch::Tensor& like, std::function<double(int64_t)> learning_rate)
      : learning_rate_(std::move(learning_rate)),
        m_(torch::zeros_like(like)),
        v_(torch::zeros_like(like)) {}
  void carry(ActiveSet& active) override {
    active.carry(m_);
    active.carry(v_);
  }
  // Updates a detached x in place and returns it.
  torch::Tensor next(const torch::Tensor& x, const torch::Tensor& grad, int64_t step) override;

 private:
  static constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEpsilon = 1e-8;
  std::function<double(int64_t)> learning_rate_;
  torch::Tensor m_, v_;
};

// x + a·(z − x) + (1 − a)·(x − x_prev): the step to z, the projected gradient step from x,
// blended with the last move.
torch::Tensor heavy_ball(const torch::Tensor& x, const torch::Tensor& z,
                         const torch::Tensor& x_prev, double a);

}  // namespace advtk
