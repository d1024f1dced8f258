// Inverting Gradients with the authors' defaults on the DLG paper's network: batch-1
// Fashion-MNIST above 20 dB, labels read off the output layer first.
#include <gtest/gtest.h>

#include "leak_test_util.h"
#include "leakage/image_metrics.h"
#include "leakage/inverting_gradients.h"
#include "leakage/label_inference.h"

namespace advtk {
namespace {

TEST(InvertingGradients, ReconstructsBatchOneFashionMnistAbove20Db) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 1);
  Model model = test::leak_model(Architecture::DlgLeNet);
  const auto shared = test::shared_gradient(model, data.images, data.labels);
  const auto layer = find_output_layer(shared_parameters(model), 10);
  ASSERT_TRUE(layer.has_value());
  ParameterGradientScope scope(model);
  const MatchingProblem p =
      test::fashion_problem(model, shared, torch::tensor(infer_labels(shared, *layer, 1, 1.0)));
  torch::Generator gen = make_generator(21);
  const Reconstruction r = run_inverting_gradients(p, InvertingGradientsOptions{}, gen);
  EXPECT_GT(image_psnr(r.x, data.images)[0].item<double>(), 20);
  EXPECT_GE(r.x.min().item<double>(), 0.0) << "boxed";
  EXPECT_LE(r.x.max().item<double>(), 1.0) << "boxed";
}

TEST(InvertingGradients, RestartsKeepTheBestGradientMatch) {
  // Two restarts of a short run: the kept one matches at least as well as the first alone.
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 1);
  Model model = test::leak_model(Architecture::DlgLeNet);
  const auto shared = test::shared_gradient(model, data.images, data.labels);
  ParameterGradientScope scope(model);
  const MatchingProblem p = test::fashion_problem(model, shared, data.labels);
  InvertingGradientsOptions o;
  o.iterations = 30;
  const auto score = [&](const Reconstruction& r) {
    return matching_objective(p, r.x, torch::one_hot(p.labels, 10).to(torch::kFloat),
                              MatchDistance::Cosine)
        .item<double>();
  };
  torch::Generator g1 = make_generator(4);
  const double one = score(run_inverting_gradients(p, o, g1));
  o.restarts = 3;
  torch::Generator g3 = make_generator(4);
  EXPECT_LE(score(run_inverting_gradients(p, o, g3)), one + 1e-12);
}

}  // namespace
}  // namespace advtk
