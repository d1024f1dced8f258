// Indicators whose rule is a closed computation on measured figures, tested on hand-made ones.
#include "diagnostics/masking_indicators.h"

#include <gtest/gtest.h>

namespace advtk {
namespace {

MaskingContext context_of(int64_t n) {
  MaskingContext c;
  c.points.images = torch::zeros({n, 1, 1, 4});
  c.points.labels = torch::zeros({n}, torch::kLong);
  return c;
}

PointGradients margin_gradients(const torch::Tensor& norms) {
  PointGradients g;
  g.margin.grad = torch::zeros({norms.size(0), 4});
  g.margin.grad.select(1, 0).copy_(norms);
  return g;
}

TEST(ExplodingGradients, FiresWhenAFewPointsHaveGradientsFarAboveTheMedian) {
  const MaskingContext c = context_of(200);
  torch::Tensor norms = torch::ones({200});
  EXPECT_FALSE(check_exploding_gradients(c, margin_gradients(norms)).fired);
  // Confidence spreads gradients over a factor of tens: not exploding.
  norms.slice(0, 0, 20).fill_(50.0);
  EXPECT_FALSE(check_exploding_gradients(c, margin_gradients(norms)).fired);
  // 2.5% of the points 1000x the median, or not finite.
  norms.slice(0, 0, 3).fill_(1000.0);
  norms.slice(0, 3, 5).fill_(INFINITY);
  const Indicator i = check_exploding_gradients(c, margin_gradients(norms));
  EXPECT_TRUE(i.fired) << i.detail;
  EXPECT_DOUBLE_EQ(i.value, 5.0 / 200);
  EXPECT_EQ(i.extra["nonfinite"], 2);
}

TEST(LossSpecific, FiresWhenTheChangedLossBreaksATenthOfThePoints) {
  const MaskingContext c = context_of(200);
  EXPECT_FALSE(check_loss_specific(c, 19).fired);
  EXPECT_TRUE(check_loss_specific(c, 20).fired);
  EXPECT_FALSE(check_loss_specific(context_of(50), 9).fired);  // 18%, but fewer than 10 points
}

}  // namespace
}  // namespace advtk
