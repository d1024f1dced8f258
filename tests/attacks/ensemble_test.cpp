// Ensembles: per-example worst case over their attacks, on an affine model and on a trained CNN.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/ensemble.h"
#include "attacks/iterative_attack.h"
#include "attacks/noise.h"
#include "trained_cnn.h"

namespace advtk {
namespace {

using test::attack;
using test::batch_of;
using test::problem;
using test::robust_accuracy;
using test::trained_cnn;

TEST(Ensemble, AnExampleIsRobustOnlyIfEveryAttackFailed) {
  const auto p = problem(40, 4, 20, 9);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const double eps = test::affine_min_distance(p, "l1").median().item<double>();
  const ThreatModel threat{Norm::Linf, eps, -100, 100};
  NoiseOptions n;
  n.threat = threat;
  n.draws = 20;
  IterativeAttackOptions pgd;
  pgd.threat = threat;
  pgd.steps = 10;
  const AttackResult noise_alone = NoiseAttack(n).run(model, batch_of(p));
  const AttackResult pgd_alone = make_pgd(pgd)->run(model, batch_of(p));
  std::vector<std::unique_ptr<Attack>> list;
  list.push_back(std::make_unique<NoiseAttack>(n));
  list.push_back(make_pgd(pgd));
  EnsembleAttack suite("noise,pgd", std::move(list));
  const AttackResult r = suite.run(model, batch_of(p));
  // Per-example seeds: each attack does on an example what it does alone.
  EXPECT_TRUE(torch::equal(r.success, noise_alone.success | pgd_alone.success));
  EXPECT_TRUE(torch::equal(r.broken_by.eq(0), noise_alone.success));
  EXPECT_TRUE(torch::equal(r.broken_by.eq(1), pgd_alone.success & ~noise_alone.success));
  EXPECT_TRUE(torch::equal(r.broken_by.eq(-1), ~r.success));
  EXPECT_EQ(suite.parameters()["attacks"].size(), 2u);
}

class EnsembleOnTheCnn : public test::CnnTest {};

TEST_F(EnsembleOnTheCnn, AnEnsembleIsAtMostEachOfItsAttacks) {
  // Shortened budgets: the property, not the strength, is under test.
  const OptionValues c = OptionValues()
                             .set("steps", int64_t{20})
                             .set("target-classes", int64_t{3})
                             .set("queries", int64_t{300});
  const std::vector<std::string> names = {"apgd", "apgd-t", "fab-t", "square"};
  const AttackRun suite = attack("apgd,apgd-t,fab-t,square", {0.05}, c, {}, 60)[0];
  const torch::Tensor robust = suite.clean_pred.eq(suite.y) & ~suite.success;
  for (size_t k = 0; k < names.size(); ++k) {
    const AttackRun alone = attack(names[k], {0.05}, c, {}, 60)[0];
    EXPECT_LE(robust_accuracy(suite), robust_accuracy(alone)) << names[k];
    // Per-example worst case: robust in the suite means robust against each attack alone.
    EXPECT_FALSE((robust & alone.success).any().item<bool>()) << names[k];
  }
  EXPECT_TRUE(torch::equal(suite.broken_by.ge(0), suite.success & suite.clean_pred.eq(suite.y)));
  EXPECT_TRUE(torch::equal(trained_cnn().logits(suite.x_adv).argmax(1), suite.pred_adv));
  EXPECT_LE(distance(Norm::Linf, suite.x_adv, suite.x).max().item<double>(), 0.05 + 1e-6);
}

}  // namespace
}  // namespace advtk
