// Carlini-Wagner L2 on affine classifiers, where the minimal perturbation is known in closed form.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/carlini_wagner.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

TEST(CarliniWagner, LandsWithinFivePercentOfTheMinimum) {
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

TEST(CarliniWagner, FirstOrderConstJustReachesTheBoundary) {
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

TEST(CarliniWagner, NeedsOneRunOfCWhenTheBoundaryIsFlat) {
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

}  // namespace
}  // namespace advtk
