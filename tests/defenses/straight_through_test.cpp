#include "defenses/straight_through.h"

#include <gtest/gtest.h>

#include "masking_fixtures.h"
#include "models/zoo.h"

namespace advtk {
namespace {

torch::Tensor input_gradient(torch::jit::Module& m, const torch::Tensor& x,
                             const torch::Tensor& weights) {
  const torch::Tensor xi = x.clone().requires_grad_(true);
  const torch::Tensor out = m.forward({xi}).toTensor();
  if (!out.requires_grad()) return torch::zeros_like(x);
  const auto g = torch::autograd::grad({(out * weights).sum()}, {xi}, {}, false, false, true)[0];
  return g.defined() ? g : torch::zeros_like(x);
}

// round(15x)/15 with a straight-through round: the value of the quantiser, the gradient of the
// identity (d/dx [u/15] with du/dx = 15), so the gradient of Σ w·y is w itself.
TEST(StraightThrough, RoundKeepsItsValuesAndPassesTheGradientThrough) {
  torch::jit::Module original = test::quantise_front_end();
  StraightThrough st = straight_through_copy(original);
  EXPECT_EQ(st.rewritten, 1);
  const torch::Tensor x = torch::rand({3, 1, 6, 6});
  const torch::Tensor w = torch::randn({3, 1, 6, 6});
  EXPECT_TRUE(torch::equal(st.module.forward({x}).toTensor(), original.forward({x}).toTensor()));
  EXPECT_TRUE(torch::equal(input_gradient(original, x, w), torch::zeros_like(x)));
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), w, 1e-5, 1e-6));
}

// The thermometer: fifteen comparisons cast to float, summed and divided by 15: each becomes
// the identity in the backward pass, so the whole encoding does too.
TEST(StraightThrough, ComparisonCastsPassTheGradientThrough) {
  torch::jit::Module original = test::thermometer_front_end();
  StraightThrough st = straight_through_copy(original);
  EXPECT_EQ(st.rewritten, 1);  // one comparison cast, in the loop's body
  const torch::Tensor x = torch::rand({3, 1, 6, 6});
  const torch::Tensor w = torch::randn({3, 1, 6, 6});
  EXPECT_TRUE(torch::equal(st.module.forward({x}).toTensor(), original.forward({x}).toTensor()));
  EXPECT_TRUE(torch::equal(input_gradient(original, x, w), torch::zeros_like(x)));
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), w, 1e-5, 1e-6));
}

TEST(StraightThrough, AModelWithoutSuchOperationsIsUnchanged) {
  ZooOptions z;
  torch::jit::Module cnn = build_zoo_model(Architecture::Cnn, z);
  StraightThrough st = straight_through_copy(cnn);
  EXPECT_EQ(st.rewritten, 0);
  const torch::Tensor x = torch::rand({2, 1, 28, 28});
  const torch::Tensor w = torch::randn({2, 10});
  EXPECT_TRUE(torch::allclose(st.module.forward({x}).toTensor(), cnn.forward({x}).toTensor()));
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), input_gradient(cnn, x, w)));
}

// Rounding inside a submodule's forward: inlining reaches it; the original keeps its zero
// gradient (the copy does not share the rewritten graph).
TEST(StraightThrough, ReachesIntoSubmodulesAndLeavesTheOriginalAlone) {
  torch::jit::Module outer("Outer");
  outer.register_module("front", test::quantise_front_end());
  outer.define("def forward(self, x):\n  return self.front.forward(x) * 2.0\n");
  StraightThrough st = straight_through_copy(outer);
  EXPECT_EQ(st.rewritten, 1);
  const torch::Tensor x = torch::rand({2, 1, 4, 4});
  const torch::Tensor w = torch::ones({2, 1, 4, 4});
  EXPECT_TRUE(torch::allclose(input_gradient(st.module, x, w), 2 * w));
  EXPECT_TRUE(torch::equal(input_gradient(outer, x, w), torch::zeros_like(x)));
}

}  // namespace
}  // namespace advtk
