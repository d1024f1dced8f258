// Random noise against affine classifiers: never below the minimal distance, always in the ball.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/noise.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

TEST(Noise, CannotBreakBelowTheMinimalDistanceAndStaysInTheBall) {
  const auto p = problem(10, 4, 20, 5);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const torch::Tensor min_d = test::affine_min_distance(p, "l1");
  for (NoiseKind kind : {NoiseKind::Uniform, NoiseKind::Gaussian}) {
    NoiseOptions o;
    o.threat = {Norm::Linf, 0.99 * min_d.min().item<double>(), -100, 100};
    o.kind = kind;
    o.draws = 50;
    const AttackResult r = NoiseAttack(o).run(model, batch_of(p));
    EXPECT_FALSE(r.success.any().item<bool>());
    EXPECT_TRUE(torch::equal(r.forward_calls, torch::full({10}, 51, torch::kLong)));
    EXPECT_EQ(r.backward_calls.sum().item<int64_t>(), 0);
    // A budget far beyond every boundary: noise breaks some.
    o.threat.eps = 100 * min_d.max().item<double>();
    const AttackResult big = NoiseAttack(o).run(model, batch_of(p));
    EXPECT_TRUE(big.success.any().item<bool>());
    EXPECT_LE(big.distance.max().item<double>(), o.threat.eps * (1 + 1e-6));
  }
}

}  // namespace
}  // namespace advtk
