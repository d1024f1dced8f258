// Phong et al.'s closed form: exact for one example, through the model's normalisation and
// input range.
#include <gtest/gtest.h>

#include "leak_test_util.h"
#include "leakage/analytic_inversion.h"
#include "leakage/image_metrics.h"

namespace advtk {
namespace {

TEST(AnalyticInversion, RecoversABatchOfOneExactly) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 3);
  ModelOptions normalised;
  normalised.mean = {0.2860};
  normalised.std = {0.3530};
  normalised.input_lo = -1;
  normalised.input_hi = 1;
  for (const ModelOptions& options : {ModelOptions{}, normalised}) {
    Model model = test::leak_model(Architecture::Mlp, 1, options);
    const auto layer = find_first_linear_layer(shared_parameters(model), 784);
    ASSERT_TRUE(layer.has_value());
    for (int64_t i = 0; i < data.size(); ++i) {
      const torch::Tensor x01 = data.images.narrow(0, i, 1);
      const auto g =
          test::shared_gradient(model, model.from_unit_range(x01), data.labels.narrow(0, i, 1));
      const torch::Tensor rec = analytic_inversion(g, *layer, 1, {1, 28, 28}, model);
      EXPECT_GT(image_psnr(rec, x01)[0].item<double>(), 60) << "example " << i;
    }
  }
}

TEST(AnalyticInversion, NeedsALinearFirstLayer) {
  Model cnn = test::leak_model(Architecture::Cnn);
  EXPECT_FALSE(find_first_linear_layer(shared_parameters(cnn), 784).has_value());
}

}  // namespace
}  // namespace advtk
