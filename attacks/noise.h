// Random noise at the budget: the sanity baseline every evaluation should beat. `draws` random
// perturbations per example (uniform in the ball, or Gaussian scaled to the ball's surface); an
// example is broken by the first draw that changes its prediction. No gradients.
//
// Example: NoiseAttack attack({ThreatModel{Norm::Linf, 0.1}, NoiseKind::Uniform, 100});
#pragma once

#include "attacks/attack.h"
#include "attacks/attack_info.h"

namespace advtk {

enum class NoiseKind { Uniform, Gaussian };

struct NoiseOptions {
  ThreatModel threat;
  NoiseKind kind = NoiseKind::Uniform;
  int64_t draws = 100;
  uint64_t seed = 0;
};

class NoiseAttack : public Attack {
 public:
  explicit NoiseAttack(NoiseOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "noise"; }
  Norm norm() const override { return options_.threat.norm; }
  double budget() const override { return options_.threat.eps; }
  nlohmann::json parameters() const override;

 private:
  NoiseOptions options_;
};

// The registry's entry "noise".
AttackInfo noise_info();

}  // namespace advtk
