// FGSM, PGD and MI-FGSM on affine models, where their steps are known, and PGD on a trained CNN.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "attacks/registry.h"
#include "trained_cnn.h"

namespace advtk {
namespace {

using test::attack;
using test::batch_of;
using test::problem;
using test::robust_accuracy;

TEST(IterativeAttack, FgsmStepIsEpsTimesTheGradientSign) {
  const auto p = problem(8, 5, 12, 1);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const double eps = 0.01;
  IterativeAttackOptions o;
  auto fgsm = make_fgsm({Norm::Linf, eps, -100, 100});
  const AttackResult r = fgsm->run(model, batch_of(p));
  // ∇x CE = Wᵀ(softmax(z) - onehot(y)), in closed form.
  const torch::Tensor z = torch::addmm(p.b, p.x.flatten(1), p.w.t());
  const torch::Tensor grad =
      torch::mm(torch::softmax(z, 1) - torch::one_hot(p.y, 5).to(torch::kFloat), p.w);
  EXPECT_TRUE(torch::allclose((r.x_adv - p.x).flatten(1), eps * grad.sign(), 0, 1e-6));
  EXPECT_TRUE(torch::equal(r.forward_calls, torch::full({8}, 2, torch::kLong)));
  EXPECT_TRUE(torch::equal(r.backward_calls, torch::ones({8}, torch::kLong)));
}

TEST(IterativeAttack, PgdNeverLeavesTheBallOrTheRange) {
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      auto p = problem(32, 6, 49, 10 + seed);
      p.x = torch::rand({32, 1, 7, 7}, make_generator(seed));
      p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
      const Model model = test::affine_model(p.w, p.b);
      const double eps = norm == Norm::Linf ? 0.05 : norm == Norm::L2 ? 0.5 : 2.0;
      IterativeAttackOptions o;
      o.threat = {norm, eps, 0, 1};
      o.steps = 10;
      o.restarts = 2;
      o.early_stop = false;
      o.seed = seed;
      const AttackResult r = make_pgd(o)->run(model, batch_of(p));
      EXPECT_LE(r.distance.max().item<double>(), eps * (1 + 1e-5)) << norm_name(norm);
      EXPECT_GE(r.x_adv.min().item<double>(), 0.0);
      EXPECT_LE(r.x_adv.max().item<double>(), 1.0);
    }
  }
}

TEST(IterativeAttack, TargetedPgdReachesItsTarget) {
  auto p = problem(16, 5, 20, 4);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  AttackBatch b = batch_of(p);
  b.target = (p.y + 1).remainder(5);
  IterativeAttackOptions o;
  o.threat = {Norm::L2, 50.0, -100, 100};
  o.steps = 50;
  o.loss.kind = LossKind::Margin;
  const AttackResult r = make_pgd(o)->run(model, b);
  EXPECT_TRUE(r.success.all().item<bool>());
  EXPECT_TRUE(torch::equal(r.pred, b.target));
}

TEST(IterativeAttack, L1StepsMoveCoordinatesTheBoxLetsMove) {
  // x = 0 everywhere; the strongest gradient coordinates point below 0 (blocked by the box), the
  // weaker ones point up. A sparse step on the blocked ones would never move the point.
  torch::Tensor w = torch::zeros({2, 100});
  w[1].slice(0, 0, 10).fill_(-10);
  w[1].slice(0, 10).fill_(1);
  const torch::Tensor b = torch::tensor({0.0f, -0.5f});
  const Model model = test::affine_model(w, b);
  const AttackBatch batch{torch::zeros({1, 1, 1, 100}),
                          torch::zeros({1}, torch::kLong),
                          {},
                          torch::zeros({1}, torch::kLong)};
  IterativeAttackOptions o;
  o.threat = {Norm::L1, 2.0, 0, 1};
  o.steps = 10;
  o.start = StartKind::None;
  const AttackResult r = make_pgd(o)->run(model, batch);
  EXPECT_TRUE(r.success.all().item<bool>());
  EXPECT_LE(r.distance.item<double>(), 2.0 + 1e-5);
}

// MI-FGSM (Dong et al. 2018) on affine models, where its steps are known in closed form.
TEST(MiFgsm, OnTwoClassesEveryStepFollowsTheFixedGradientSignToEps) {
  // Two classes: ∇x CE = p_other·(w_other − w_y), one direction at every point, so the
  // accumulated gradient keeps its sign and ten steps of ε/10 land on x + ε·sign(w_other − w_y).
  const auto p = problem(6, 2, 16, 4);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const double eps = 0.05;
  AttackSetup setup;
  setup.threat = {Norm::Linf, eps, -100, 100};
  OptionValues given;
  given.set("early-stop", false);
  const std::unique_ptr<Attack> mi = make_attack("mi-fgsm", setup, given);
  const AttackResult r = mi->run(model, batch_of(p));
  const torch::Tensor other = 1 - p.y;
  const torch::Tensor direction = (p.w.index_select(0, other) - p.w.index_select(0, p.y)).sign();
  // Unbroken examples report their highest-loss iterate: the last one, at the corner.
  const torch::Tensor corner = p.x.flatten(1) + eps * direction;
  const torch::Tensor z = torch::addmm(p.b, corner, p.w.t());
  for (int64_t i = 0; i < 6; ++i) {
    const bool flips = z[i].argmax().item<int64_t>() != p.y[i].item<int64_t>();
    EXPECT_EQ(r.success[i].item<bool>(), flips) << i;
    if (!flips) {
      EXPECT_TRUE(torch::allclose(r.x_adv[i].flatten(), corner[i], 0, 1e-5)) << i;
    }
  }
  EXPECT_TRUE(torch::equal(r.backward_calls, torch::full({6}, 10, torch::kLong)));
  EXPECT_EQ(mi->parameters()["momentum"], 1.0);
  EXPECT_NEAR(mi->parameters()["step_size"].get<double>(), eps / 10, 1e-12);
}

TEST(MiFgsm, WithoutMomentumItIsTheBasicIterativeMethod) {
  // μ = 0 is I-FGSM: the same points as the loop with plain sign steps of ε/10 from x.
  const auto p = problem(8, 5, 12, 5);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  AttackSetup setup;
  setup.threat = {Norm::Linf, 0.2, -100, 100};
  OptionValues given;
  given.set("momentum", 0.0).set("early-stop", false);
  const AttackResult mi = make_attack("mi-fgsm", setup, given)->run(model, batch_of(p));
  IterativeAttackOptions o;
  o.threat = setup.threat;
  o.steps = 10;
  o.step_size = 0.02;
  o.start = StartKind::None;
  o.early_stop = false;
  const AttackResult bim = make_pgd(o)->run(model, batch_of(p));
  EXPECT_TRUE(torch::equal(mi.x_adv, bim.x_adv));
}

class IterativeAttackOnTheCnn : public test::CnnTest {};

TEST_F(IterativeAttackOnTheCnn, Pgd40IsAtLeastAsStrongAsFgsm) {
  const double fgsm = robust_accuracy(attack("fgsm", {0.1})[0]);
  const OptionValues c = OptionValues().set("steps", int64_t{40}).set("step-size", 0.01);
  const double pgd = robust_accuracy(attack("pgd", {0.1}, c)[0]);
  EXPECT_LE(pgd, fgsm);
}

}  // namespace
}  // namespace advtk
