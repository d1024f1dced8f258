// Transfer attack (Papernot et al. 2016): craft with any attack on a surrogate model, then judge
// the examples on the target model. The target is queried once per example, never
// differentiated — a check that the target's robustness is not only an obstacle to its own
// gradients.
//
// Example: TransferAttack t(make_pgd(o), surrogate); AttackResult r = t.run(target, batch);
#pragma once

#include <memory>

#include "attacks/attack.h"

namespace advtk {

class TransferAttack : public Attack {
 public:
  TransferAttack(std::unique_ptr<Attack> inner, Model surrogate);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "transfer:" + inner_->name(); }
  Norm norm() const override { return inner_->norm(); }
  bool minimum_norm() const override { return inner_->minimum_norm(); }
  double budget() const override { return inner_->budget(); }
  nlohmann::json parameters() const override;

 private:
  std::unique_ptr<Attack> inner_;
  Model surrogate_;
};

}  // namespace advtk
