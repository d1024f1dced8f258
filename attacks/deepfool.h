// DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016): a minimum-norm attack that linearises the
// classifier around the current point and steps to the nearest linearised decision boundary
// among the top `candidates` classes, until the label changes; the accumulated perturbation is
// scaled by (1 + overshoot). L2 and Linf. Batched; examples leave the batch once broken.
// Defaults as in the authors' code: overshoot 0.02, 10 candidates, 50 iterations, and 1e-4
// added to each step's logit gap.
//
// Example: DeepFool attack({Norm::L2}); AttackResult r = attack.run(model, batch);
#pragma once

#include <limits>

#include "attacks/attack.h"
#include "attacks/attack_info.h"

namespace advtk {

struct DeepFoolOptions {
  Norm norm = Norm::L2;
  int64_t candidates = 10;  // the original class plus the next most likely classes
  double overshoot = 0.02;
  int64_t max_iterations = 50;
  double lo = 0.0, hi = 1.0;
};

class DeepFool : public Attack {
 public:
  explicit DeepFool(DeepFoolOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "deepfool"; }
  Norm norm() const override { return options_.norm; }
  bool minimum_norm() const override { return true; }
  double budget() const override { return std::numeric_limits<double>::infinity(); }
  nlohmann::json parameters() const override;

 private:
  DeepFoolOptions options_;
};

// The registry's entry "deepfool" (L2 first: the default).
AttackInfo deepfool_info();

}  // namespace advtk
