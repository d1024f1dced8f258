// Attacks against affine classifiers, where the answers are known in closed form.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/carlini_wagner.h"
#include "attacks/deepfool.h"
#include "attacks/iterative_attack.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

TEST(AffineAttacks, FgsmStepIsEpsTimesTheGradientSign) {
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

TEST(AffineAttacks, DeepFoolFindsTheExactMinimalL2Perturbation) {
  // Large logit gaps, so that the 1e-4 DeepFool adds to each gap is negligible (< 2e-5 relative).
  auto p = problem(20, 4, 30, 2);
  p.w *= 100;
  p.b *= 100;
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  DeepFoolOptions o;
  o.lo = -100;
  o.hi = 100;
  DeepFool deepfool(o);
  const AttackResult r = deepfool.run(model, batch_of(p));
  ASSERT_TRUE(r.success.all().item<bool>());
  for (int64_t i = 0; i < 20; ++i) {
    const double exact = test::affine_min_l2(p.w, p.b, p.x[i].flatten(), p.y[i].item<int64_t>());
    // One linearisation step is exact for an affine model.
    const double found = r.distance[i].item<double>() / (1 + o.overshoot);
    EXPECT_NEAR(found / exact, 1.0, 1e-4) << "example " << i << ", exact " << exact;
    EXPECT_EQ(r.forward_calls[i].item<int64_t>(), 2);
  }
}

TEST(AffineAttacks, CarliniWagnerLandsWithinFivePercentOfTheMinimum) {
  // Pixels near the middle of [0, 1] and boundaries within reach, so no bound is active.
  auto p = problem(12, 4, 30, 3);
  p.x = 0.5 + 0.05 * p.x;
  p.b = -torch::mv(p.w, torch::full({30}, 0.5f)) + p.b;  // boundaries near the middle
  p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
  const Model model = test::affine_model(p.w, p.b);
  CarliniWagnerL2 cw(CarliniWagnerOptions{});
  const AttackResult r = cw.run(model, batch_of(p));
  ASSERT_TRUE(r.success.all().item<bool>());
  for (int64_t i = 0; i < 12; ++i) {
    const double exact = test::affine_min_l2(p.w, p.b, p.x[i].flatten(), p.y[i].item<int64_t>());
    ASSERT_LT(exact, 0.3);
    EXPECT_LE(r.distance[i].item<double>(), 1.05 * exact) << "example " << i;
    EXPECT_GE(r.distance[i].item<double>(), exact * (1 - 1e-4)) << "example " << i;
  }
}

TEST(AffineAttacks, CarliniWagnerFirstOrderConstJustReachesTheBoundary) {
  // For f linear, the minimiser of ||δ||² + c·(f + g·δ) is δ = -c·g/2; at c* it lands on f = -κ.
  const torch::Tensor f = torch::tensor({2.0, 0.5, 7.0});
  const torch::Tensor g = torch::randn({3, 1, 4, 4}, make_generator(5)).to(torch::kDouble);
  for (double kappa : {0.0, 1.5}) {
    const torch::Tensor c = first_order_const(f, g, kappa);
    const torch::Tensor delta = -c.view({3, 1, 1, 1}) * g / 2;
    const torch::Tensor f_moved = f + (g * delta).flatten(1).sum(1);
    EXPECT_TRUE(torch::allclose(f_moved, torch::full({3}, -kappa, torch::kDouble), 0, 1e-9));
    // At that minimal perturbation (distance (f + κ)/||g||, gradient still g) the KKT multiplier
    // 2·distance/||g|| is the same c.
    const torch::Tensor distance = (f + kappa) / g.pow(2).flatten(1).sum(1).sqrt();
    EXPECT_TRUE(torch::allclose(kkt_multiplier(distance, g), c, 1e-12, 0));
  }
  // Already adversarial, or no gradient: no estimate, and the search starts at the paper's 1e-3.
  const torch::Tensor g0 = torch::zeros({2, 1, 4, 4});
  EXPECT_TRUE(first_order_const(torch::tensor({1.0, 1.0}), g0, 0).isnan().all().item<bool>());
  EXPECT_TRUE(
      first_order_const(torch::tensor({-1.0}), g.narrow(0, 0, 1), 0).isnan().all().item<bool>());
  EXPECT_TRUE(
      torch::equal(initial_search_const(torch::tensor({-1.0, 1.0}),
                                        torch::cat({g.narrow(0, 0, 1), g0.narrow(0, 0, 1)}), 0),
                   torch::full({2}, 1e-3, torch::kDouble)));
  // Otherwise 3× the estimate, capped where a vanishing gradient would overflow float.
  EXPECT_TRUE(torch::allclose(initial_search_const(f, g, 0), 3 * first_order_const(f, g, 0)));
  const torch::Tensor huge =
      initial_search_const(torch::tensor({10.0}), 1e-20 * g.narrow(0, 0, 1), 0);
  EXPECT_TRUE(torch::isfinite(huge.to(torch::kFloat)).all().item<bool>());
  EXPECT_LE(huge.item<double>(), 1e12);
}

TEST(AffineAttacks, CarliniWagnerNeedsOneRunOfCWhenTheBoundaryIsFlat) {
  // On an affine model the KKT multiplier at the minimal perturbation equals the first-order c,
  // so the first run (at 3× it) is within the 4× that ends the search: estimate + run + multiplier.
  auto p = problem(12, 4, 30, 3);
  p.x = 0.5 + 0.05 * p.x;
  p.b = -torch::mv(p.w, torch::full({30}, 0.5f)) + p.b;
  p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
  const Model model = test::affine_model(p.w, p.b);
  CarliniWagnerOptions o;
  o.steps = 50;
  const AttackResult early = CarliniWagnerL2(o).run(model, batch_of(p));
  ASSERT_TRUE(early.success.all().item<bool>());
  EXPECT_TRUE(torch::equal(early.forward_calls, torch::full({12}, 1 + 50 + 1, torch::kLong)));
  // The full search tries every c: 9 runs, a multiplier after each but the last.
  o.stop_at_first_success = false;
  const AttackResult full = CarliniWagnerL2(o).run(model, batch_of(p));
  EXPECT_TRUE(torch::equal(full.forward_calls, torch::full({12}, 1 + 9 * 50 + 8, torch::kLong)));
  EXPECT_TRUE((full.distance <= early.distance * (1 + 1e-6)).all().item<bool>());
}

TEST(AffineAttacks, PgdNeverLeavesTheBallOrTheRange) {
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

TEST(AffineAttacks, TargetedPgdReachesItsTarget) {
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

TEST(AffineAttacks, L1StepsMoveCoordinatesTheBoxLetsMove) {
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

}  // namespace
}  // namespace advtk
