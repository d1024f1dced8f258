// Neural Cleanse: the anomaly index against a hand computation, and the search finding the BadNets
// model's small trigger.
#include <gtest/gtest.h>

#include "poisoning/backdoor_fixtures.h"
#include "poisoning/neural_cleanse.h"

namespace advtk {
namespace {

TEST(NeuralCleanse, TheAnomalyIndexIsTheDistanceFromTheMedianInMadUnits) {
  // Norms 1, 10, 11, 12, 13: median 11, deviations 10, 1, 0, 1, 2 → MAD 1 × 1.4826.
  const std::vector<double> a = anomaly_indices({1, 10, 11, 12, 13});
  EXPECT_NEAR(a[0], 10 / 1.4826, 1e-12);
  EXPECT_NEAR(a[2], 0.0, 1e-12);
  EXPECT_NEAR(a[4], 2 / 1.4826, 1e-12);
}

TEST(NeuralCleanse, TheBadNetsTargetNeedsByFarTheSmallestTrigger) {
  // The search's own property, apart from any flagging rule: the planted 3x3 patch (9 pixels) is
  // found as a trigger of at most about that size, while every other class of the poisoned model
  // and every class of its clean twin needs several times more.
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const test::BackdoorFixture& f = test::backdoor_fixture();
  NeuralCleanseOptions o;
  o.steps = 300;
  const torch::Tensor clean_inputs = f.test.images.narrow(0, 0, 500);
  const NeuralCleanseReport poisoned = neural_cleanse(f.poisoned, clean_inputs, 10, o);
  const NeuralCleanseReport clean = neural_cleanse(f.clean, clean_inputs, 10, o);
  const auto smallest = [](const std::vector<double>& v, int64_t skip) {
    double m = 1e300;
    for (size_t i = 0; i < v.size(); ++i)
      if (static_cast<int64_t>(i) != skip) m = std::min(m, v[i]);
    return m;
  };
  EXPECT_LE(poisoned.mask_norm[f.target], 12.0);
  EXPECT_GT(smallest(poisoned.mask_norm, f.target), 3 * poisoned.mask_norm[f.target]);
  EXPECT_GT(smallest(clean.mask_norm, -1), 3 * poisoned.mask_norm[f.target]);
  EXPECT_GE(poisoned.success[f.target], o.success_threshold);
}

}  // namespace
}  // namespace advtk
