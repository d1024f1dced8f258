#include "attacks/threat_model.h"

#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "core/seeding.h"

namespace advtk {
namespace {

// An independent reference for the L1 ∩ box projection: bisection on the threshold λ.
torch::Tensor l1_box_by_bisection(const torch::Tensor& z, double eps, const torch::Tensor& lower,
                                  const torch::Tensor& upper) {
  const torch::Tensor zd = z.to(torch::kDouble);
  const torch::Tensor cap =
      torch::where(zd >= 0, upper.to(torch::kDouble), -lower.to(torch::kDouble));
  const auto f = [&](double lambda) {
    return torch::minimum((zd.abs() - lambda).clamp_min(0), cap).sum().item<double>();
  };
  double lo = 0, hi = zd.abs().max().item<double>();
  if (f(0) > eps) {
    for (int i = 0; i < 200; ++i) {
      const double mid = (lo + hi) / 2;
      (f(mid) > eps ? lo : hi) = mid;
    }
  } else {
    hi = 0;
  }
  return zd.sign() * torch::minimum((zd.abs() - hi).clamp_min(0), cap);
}

TEST(ThreatModel, L1BoxProjectionMatchesBisection) {
  auto gen = make_generator(1);
  for (int trial = 0; trial < 50; ++trial) {
    const torch::Tensor x = torch::rand({1, 40}, gen);
    const torch::Tensor z = torch::randn({1, 40}, gen) * (trial % 5 + 1) * 0.2;
    const double eps = 0.1 + 0.1 * (trial % 7);
    const torch::Tensor got = project_l1_box(z, eps, -x, 1 - x).to(torch::kDouble);
    const torch::Tensor want = l1_box_by_bisection(z[0], eps, -x[0], 1 - x[0]);
    EXPECT_TRUE(torch::allclose(got[0], want, 1e-5, 1e-6)) << "trial " << trial;
  }
}

TEST(ThreatModel, ProjectionStaysInBallAndBoxAndIsIdempotent) {
  auto gen = make_generator(2);
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    for (double eps : {0.0, 0.03, 0.3, 2.0}) {
      const ThreatModel t{norm, eps, 0.0, 1.0};
      const torch::Tensor x = torch::rand({16, 1, 5, 5}, gen);
      const torch::Tensor wild = x + torch::randn({16, 1, 5, 5}, gen) * 0.7;
      const torch::Tensor p = project(t, wild, x);
      EXPECT_LE(distance(norm, p, x).max().item<double>(), eps * (1 + 1e-5) + 1e-6)
          << norm_name(norm);
      EXPECT_GE(p.min().item<double>(), 0.0);
      EXPECT_LE(p.max().item<double>(), 1.0);
      EXPECT_TRUE(torch::allclose(project(t, p, x), p, 1e-5, 1e-6))
          << norm_name(norm) << " " << eps;
    }
  }
}

TEST(ThreatModel, RandomStartIsInsideAndDependsOnTheExampleOnly) {
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const ThreatModel t{norm, 0.5, 0.0, 1.0};
    const torch::Tensor x = torch::full({3, 1, 4, 4}, 0.5);
    auto g1 = std::vector<torch::Generator>{make_generator(7, 0), make_generator(7, 1),
                                            make_generator(7, 2)};
    auto g2 = std::vector<torch::Generator>{make_generator(7, 2)};
    const torch::Tensor s = random_start(t, x, g1);
    EXPECT_LE(distance(norm, s, x).max().item<double>(), 0.5 + 1e-6);
    EXPECT_GT(distance(norm, s, x).min().item<double>(), 0.0);
    EXPECT_TRUE(torch::equal(random_start(t, x.slice(0, 2), g2), s.slice(0, 2)));
  }
}

TEST(ThreatModel, SteepestStepsHaveTheRequestedSizeAndAscend) {
  auto gen = make_generator(3);
  const torch::Tensor g = torch::randn({4, 3, 10, 10}, gen);
  const torch::Tensor alpha = torch::tensor(0.25);
  const torch::Tensor zero = torch::zeros_like(g);
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const torch::Tensor s = steepest_step(norm, g, alpha);
    EXPECT_TRUE(torch::allclose(distance(norm, s, zero), torch::full({4}, 0.25), 1e-5))
        << norm_name(norm);
    EXPECT_GT((s * g).flatten(1).sum(1).min().item<double>(), 0.0);
  }
  // Linf: exactly alpha · sign(g).
  EXPECT_TRUE(torch::equal(steepest_step(Norm::Linf, g, alpha), 0.25 * g.sign()));
  // L1: moves only the top 1% coordinates (3 of 300).
  EXPECT_EQ(steepest_step(Norm::L1, g, alpha).ne(0).flatten(1).sum(1).max().item<int64_t>(), 3);
}

}  // namespace
}  // namespace advtk
