// Carlini & Wagner 2017 ("Towards evaluating the robustness of neural networks"), L2: minimise
// ||x' - x||² + c · max(z_y - max_{j≠y} z_j, -κ) over x' = lo + (hi - lo)(tanh(w) + 1)/2 with
// Adam, and search c per example by bisection (×10 until the first success). Reports the
// smallest successful perturbation found per example. The paper's defaults: 9 binary-search
// steps from c = 1e-3, Adam with learning rate 0.01, κ = 0, early abort when the objective stops
// falling (checked every tenth of the steps). Departures, each of which only adds search:
// 100 Adam steps per binary-search step instead of up to 10,000 (--steps raises it); the early
// abort is decided per example; each binary-search step starts from the best adversarial example
// found so far or, while there is none, from where the previous step ended; pixels on the box
// bounds start 5e-4·(hi - lo) inside it, where tanh is not flat (see kTanhLimit).
//
// Example: CarliniWagnerL2 attack({}); AttackResult r = attack.run(model, batch);
#pragma once

#include "attacks/attack.h"

namespace advtk {

struct CarliniWagnerOptions {
  int64_t binary_search_steps = 9;
  int64_t steps = 100;  // Adam iterations per binary-search step
  double learning_rate = 0.01;
  double initial_const = 1e-3;
  double confidence = 0.0;  // κ
  bool abort_early = true;
  double lo = 0.0, hi = 1.0;
};

class CarliniWagnerL2 : public Attack {
 public:
  explicit CarliniWagnerL2(CarliniWagnerOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "cw"; }
  Norm norm() const override { return Norm::L2; }
  bool minimum_norm() const override { return true; }
  nlohmann::json parameters() const override;

 private:
  CarliniWagnerOptions options_;
};

}  // namespace advtk
