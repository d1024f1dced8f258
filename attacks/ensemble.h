// Several attacks as one: each runs only on the examples the earlier ones left robust, so an
// example counts as robust only if every attack failed on it (the per-example worst case, as in
// AutoAttack). The result says which attack broke each example (`broken_by`).
//
// Example: EnsembleAttack suite(std::move(attacks)); AttackResult r = suite.run(model, batch);
#pragma once

#include <memory>
#include <vector>

#include "attacks/attack.h"

namespace advtk {

class EnsembleAttack : public Attack {
 public:
  // `name`: what the ensemble is called ("autoattack", or the attacks joined by commas).
  EnsembleAttack(std::string name, std::vector<std::unique_ptr<Attack>> attacks);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return name_; }
  Norm norm() const override { return attacks_.front()->norm(); }
  double budget() const override { return attacks_.front()->budget(); }
  // Each attack's parameters, with the seconds it has spent so far on this budget.
  nlohmann::json parameters() const override;
  std::vector<std::string> attack_names() const;

 private:
  std::string name_;
  std::vector<std::unique_ptr<Attack>> attacks_;
  std::vector<double> seconds_;
};

}  // namespace advtk
