#include "attacks/losses.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace advtk {
namespace {

const torch::Tensor kLogits = torch::tensor({{4.0f, 1.0f, 3.0f, 0.0f, -2.0f}});
const torch::Tensor kLabel = torch::tensor({0}, torch::kLong);
const torch::Tensor kTarget = torch::tensor({1}, torch::kLong);

float value(LossKind kind, const torch::Tensor& target, double confidence = INFINITY) {
  return attack_loss({kind, confidence}, kLogits, kLabel, target).item<float>();
}

TEST(Losses, MatchHandComputedValues) {
  const double lse = std::log(std::exp(4.0) + std::exp(1.0) + std::exp(3.0) + 1 + std::exp(-2.0));
  EXPECT_NEAR(value(LossKind::CrossEntropy, {}), lse - 4.0, 1e-5);
  EXPECT_NEAR(value(LossKind::CrossEntropy, kTarget), 1.0 - lse, 1e-5);
  EXPECT_FLOAT_EQ(value(LossKind::Margin, {}), 3.0f - 4.0f);       // best other (3) - own (4)
  EXPECT_FLOAT_EQ(value(LossKind::Margin, kTarget), 1.0f - 4.0f);  // target (1) - best other (4)
  EXPECT_FLOAT_EQ(value(LossKind::Margin, {}, -2.0), -2.0f);       // clipped at κ
  // DLR: sorted logits 4, 3, 1, 0, -2. Untargeted -(4 - 3) / (4 - 1); targeted
  // -(4 - 1) / (4 - (1 + 0) / 2).
  EXPECT_FLOAT_EQ(value(LossKind::Dlr, {}), -1.0f / 3.0f);
  EXPECT_FLOAT_EQ(value(LossKind::Dlr, kTarget), -3.0f / 3.5f);
}

TEST(Losses, DlrIsInvariantToShiftAndScale) {
  const torch::Tensor z = torch::randn({6, 10});
  const torch::Tensor y = torch::randint(0, 10, {6}, torch::kLong);
  const torch::Tensor a = attack_loss({LossKind::Dlr}, z, y, {});
  const torch::Tensor b = attack_loss({LossKind::Dlr}, z * 7 + 3, y, {});
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5));
}

// TRADES' KL(softmax(r) ‖ softmax(z)): r = (0, 0) gives p = (1/2, 1/2), z = (0, ln 3) gives
// q = (1/4, 3/4), so KL = ½ ln(½ / ¼) + ½ ln(½ / ¾) = ½ ln(4/3); zero (and flat) at z = r.
TEST(Losses, KlAgainstTheCleanOutputMatchesItsClosedForm) {
  const torch::Tensor r = torch::tensor({{0.0f, 0.0f}, {1.0f, -2.0f}});
  const torch::Tensor z = torch::tensor({{0.0f, static_cast<float>(std::log(3.0))}, {1.0f, -2.0f}})
                              .requires_grad_(true);
  const torch::Tensor y = torch::tensor({0, 0}, torch::kLong);
  const torch::Tensor kl = attack_loss({LossKind::Kl}, z, y, {}, r);
  EXPECT_NEAR(kl[0].item<double>(), 0.5 * std::log(4.0 / 3.0), 1e-6);
  EXPECT_NEAR(kl[1].item<double>(), 0.0, 1e-7);
  const torch::Tensor g = torch::autograd::grad({kl.sum()}, {z})[0];
  EXPECT_NEAR(g[1].abs().sum().item<double>(), 0.0, 1e-6);
  EXPECT_THROW(attack_loss({LossKind::Kl}, z, y, {}), Error);  // no reference
  EXPECT_EQ(parse_loss("kl"), LossKind::Kl);
}

}  // namespace
}  // namespace advtk
