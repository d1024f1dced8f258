// The defenses against their definitions: pruning zeroes exactly the smallest fraction of each
// tensor, noise has the stated spread, DP-SGD with a loose bound and no noise is the plain
// gradient and with a tight bound one example's gradient is scaled to the bound.
#include <gtest/gtest.h>

#include <cmath>

#include "leak_test_util.h"

namespace advtk {
namespace {

struct Client {
  Model model = test::leak_model(Architecture::DlgLeNet, 6);
  torch::Tensor x = torch::rand({2, 1, 28, 28}, make_generator(8));
  torch::Tensor y = torch::tensor({1L, 4L});

  ClientShare share(const GradientDefense& d, int64_t batch = 2) {
    ParameterGradientScope scope(model);
    torch::Generator gen = make_generator(9);
    return share_update(model, x.narrow(0, 0, batch), y.narrow(0, 0, batch), 10, {}, d, gen);
  }
};

TEST(GradientDefense, PruningZeroesTheSmallestFractionOfEachTensor) {
  Client c;
  GradientDefense d;
  d.kind = DefenseKind::Prune;
  d.prune_fraction = 0.3;
  const ClientShare s = c.share(d);
  for (size_t i = 0; i < s.clean.size(); ++i) {
    const torch::Tensor clean = s.clean[i].reshape(-1), kept = s.shared[i].reshape(-1);
    const auto zeroed = static_cast<int64_t>(std::floor(0.3 * clean.numel()));
    const int64_t zeros = (kept == 0).sum().item<int64_t>();
    EXPECT_GE(zeros, zeroed);
    EXPECT_LE(zeros, zeroed + (clean == 0).sum().item<int64_t>());
    if (zeroed == 0) continue;
    // Every zeroed entry is no larger in magnitude than every kept one.
    const torch::Tensor kept_mask = kept != 0;
    if (kept_mask.any().item<bool>() && (~kept_mask).any().item<bool>())
      EXPECT_LE(clean.abs().masked_select(~kept_mask).max().item<double>(),
                clean.abs().masked_select(kept_mask).min().item<double>());
    EXPECT_TRUE(torch::equal(kept.masked_select(kept_mask), clean.masked_select(kept_mask)));
  }
  EXPECT_LT(s.utility_cosine, 1.0);
}

TEST(GradientDefense, NoiseHasTheStatedSpread) {
  Client c;
  GradientDefense d;
  d.kind = DefenseKind::Noise;
  d.sigma = 0.05;
  const ClientShare s = c.share(d);
  std::vector<torch::Tensor> diff;
  for (size_t i = 0; i < s.clean.size(); ++i) diff.push_back(s.shared[i] - s.clean[i]);
  const torch::Tensor all = flatten_all(diff);
  EXPECT_NEAR(all.std().item<double>(), 0.05, 0.05 * 0.05);
  EXPECT_NEAR(all.mean().item<double>(), 0.0, 0.002);
}

TEST(GradientDefense, DpSgdClipsEachExampleAndAveragesTheBatch) {
  Client c;
  GradientDefense loose;
  loose.kind = DefenseKind::DpSgd;
  loose.clip = 1e9;
  loose.noise_multiplier = 0;
  const ClientShare s = c.share(loose);
  // Equal up to float32 summation order (the batch's reduction against the mean of per-example
  // ones): measured 5e-7 at entries up to 0.9, so the bound is relative to the gradient's scale,
  // not to each entry, since entries near zero carry the same absolute error.
  const torch::Tensor mean = flatten_all(s.shared), batch = flatten_all(s.clean);
  const double scale = batch.abs().max().item<double>();
  EXPECT_LE((mean - batch).abs().max().item<double>(), 1e-5 * scale)
      << "no clipping and no noise: the mean gradient";
  GradientDefense tight = loose;
  tight.clip = 1e-3;
  const ClientShare one = c.share(tight, 1);
  EXPECT_NEAR(std::sqrt(squared_norm(one.shared)), 1e-3, 1e-8);
  EXPECT_NEAR(one.utility_cosine, 1.0, 1e-6) << "clipping one example keeps its direction";
  const ClientShare two = c.share(tight, 2);
  EXPECT_LE(std::sqrt(squared_norm(two.shared)), 1e-3 * (1 + 1e-6));
}

TEST(GradientDefense, StrengthsOutOfRangeAreRefused) {
  GradientDefense d;
  d.kind = DefenseKind::Prune;
  d.prune_fraction = 1;
  EXPECT_NE(test::error_of([&] { validate_defense(d); }).find("prune"), std::string::npos);
  d.kind = DefenseKind::DpSgd;
  d.clip = 0;
  EXPECT_NE(test::error_of([&] { validate_defense(d); }).find("C > 0"), std::string::npos);
  d.kind = DefenseKind::Noise;
  d.sigma = -1;
  EXPECT_NE(test::error_of([&] { validate_defense(d); }).find("S >= 0"), std::string::npos);
}

}  // namespace
}  // namespace advtk
