// The step rules against hand-computed steps: momentum turns a step that plain sign steps would
// not, Adam's bias-corrected first steps are lr·sign(g), APGD's heavy ball blends two moves.
#include <gtest/gtest.h>

#include "attacks/step_policy.h"

namespace advtk {
namespace {

torch::Tensor row(std::vector<float> v) { return torch::tensor(v).view({1, -1}); }

TEST(StepPolicy, SteepestAscentIsTheNormsSteepestStep) {
  SteepestAscent sign(Norm::Linf, torch::tensor(0.1), 0.01);
  EXPECT_TRUE(torch::allclose(sign.next(row({0, 0}), row({3, -0.5}), 1), row({0.1f, -0.1f})));
  SteepestAscent l2(Norm::L2, torch::tensor(1.0), 0.01);
  EXPECT_TRUE(torch::allclose(l2.next(row({0, 0}), row({3, -4}), 1), row({0.6f, -0.8f})));
}

TEST(StepPolicy, MomentumFollowsTheAccumulatedL1NormalisedGradient) {
  // μ = 1: g1 = (1, -3) → acc (0.25, -0.75); g2 = (-2, 1) → acc (-0.417, -0.417): the second
  // step goes (-, -) where a plain sign step of g2 would go (-, +).
  const torch::Tensor x0 = row({0, 0});
  MomentumAscent mi(Norm::Linf, torch::tensor(0.1), 0.01, 1.0, x0);
  const torch::Tensor x1 = mi.next(x0, row({1, -3}), 1);
  EXPECT_TRUE(torch::allclose(x1, row({0.1f, -0.1f})));
  const torch::Tensor x2 = mi.next(x1, row({-2, 1}), 2);
  EXPECT_TRUE(torch::allclose(x2, row({0.0f, -0.2f})));
  // μ = 0.5 weighs the past less: acc (0.125, -0.375) + (-0.667, 0.333) → (-, -) still.
  MomentumAscent half(Norm::Linf, torch::tensor(0.1), 0.01, 0.5, x0);
  half.next(x0, row({1, -3}), 1);
  EXPECT_TRUE(torch::allclose(half.next(x1, row({-2, 1}), 2), row({0.0f, -0.2f})));
  // Its state narrows with the loop's examples.
  const torch::Tensor two = torch::zeros({2, 2});
  MomentumAscent rows(Norm::Linf, torch::tensor(0.1), 0.01, 1.0, two);
  ActiveSet active(torch::arange(2));
  rows.carry(active);
  rows.next(two, torch::tensor({{1.0f, -3.0f}, {-1.0f, 1.0f}}), 1);
  ASSERT_TRUE(active.keep(torch::tensor({false, true})));
  // Row 1's accumulated (-0.5, 0.5) plus (0, -1)/1 → (-0.5, -0.5).
  EXPECT_TRUE(torch::allclose(rows.next(row({0, 0}), row({0, -1}), 2), row({-0.1f, -0.1f})));
}

TEST(StepPolicy, AdamsBiasCorrectedStepsAreTheLearningRateTimesTheSign) {
  // With a constant gradient m̂ = g and v̂ = g² at every step: each step is lr_t·sign(g).
  const torch::Tensor g = row({2, -0.001f, 5});
  AdamAscent adam(torch::zeros({1, 3}), [](int64_t t) { return 0.1 * static_cast<double>(t); });
  torch::Tensor x = torch::zeros({1, 3});
  x = adam.next(x, g, 1);
  EXPECT_TRUE(torch::allclose(x, 0.1 * g.sign(), 0, 1e-5));
  x = adam.next(x, g, 2);
  EXPECT_TRUE(torch::allclose(x, 0.3 * g.sign(), 0, 1e-5));
  // A reversed gradient after one step: m̂ = (0.9·0.1·g − 0.1·g)/0.19 = −g/19, v̂ = g²: the
  // step is −lr/19·sign(g).
  AdamAscent turn(torch::zeros({1, 3}), [](int64_t) { return 1.0; });
  torch::Tensor y = turn.next(torch::zeros({1, 3}), g, 1);
  y = turn.next(y, -g, 2);
  EXPECT_TRUE(torch::allclose(y, (1.0 - 1.0 / 19) * g.sign(), 0, 1e-4));
}

TEST(StepPolicy, HeavyBallBlendsTheStepWithTheLastMove) {
  // x + a(z − x) + (1 − a)(x − x_prev) with a = 0.75.
  const torch::Tensor out = heavy_ball(row({1, 1}), row({2, 0}), row({0, 1}), 0.75);
  EXPECT_TRUE(torch::allclose(out, row({1 + 0.75f + 0.25f, 1 - 0.75f})));
}

}  // namespace
}  // namespace advtk
