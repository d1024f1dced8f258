// Labels off the output layer: iDLG's sign rule on every batch-1 example, the zero-gradient case
// reported as unreadable, and the LLG count rule on a hand-computed gradient.
#include <gtest/gtest.h>

#include "leak_test_util.h"
#include "leakage/label_inference.h"

namespace advtk {
namespace {

TEST(LabelInference, ReadsTheLabelOfEveryBatchOneExampleWithAGradient) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 40);
  for (const Architecture arch : {Architecture::DlgLeNet, Architecture::Cnn}) {
    Model model = test::leak_model(arch, 3);
    const auto layer = find_output_layer(shared_parameters(model), 10);
    ASSERT_TRUE(layer.has_value());
    for (int64_t i = 0; i < data.size(); ++i) {
      const auto g =
          test::shared_gradient(model, data.images.narrow(0, i, 1), data.labels.narrow(0, i, 1));
      EXPECT_EQ(infer_labels(g, *layer, 1, 1.0),
                std::vector<int64_t>{data.labels[i].item<int64_t>()})
          << architecture_name(arch) << " example " << i;
    }
  }
}

TEST(LabelInference, AnExampleWithNothingToReadIsReportedAsSuch) {
  // The model is certain of class 2 (a float32 softmax of exactly 1): the shared gradient is
  // zero and no label can be read from it.
  torch::jit::Module m("Sure");
  m.register_parameter("w", torch::zeros({10, 4}), false);
  m.register_parameter("b", torch::tensor({0.f, 0.f, 200.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}),
                       false);
  m.define(
      "def forward(self, x):\n    return torch.addmm(self.b, torch.flatten(x, 1), self.w.t())\n");
  Model model = Model::wrap(m, {}, "sure");
  const auto g = test::shared_gradient(model, torch::rand({1, 1, 2, 2}), torch::tensor({2L}));
  const auto layer = find_output_layer(shared_parameters(model), 10);
  ASSERT_TRUE(layer.has_value());
  EXPECT_EQ(torch::count_nonzero(g[layer->bias]).item<int64_t>(), 0);
  EXPECT_EQ(infer_labels(g, *layer, 1, 1.0), std::vector<int64_t>{-1});
}

TEST(LabelInference, CountsLabelsInABatchByTheirShareOfTheBiasGradient) {
  // Batch of 4, labels {3, 3, 5, 7}, every softmax uniform: ∂L/∂b = 0.1 − count/4.
  std::vector<torch::Tensor> shared = {torch::zeros({10, 6}), torch::full({10}, 0.1)};
  shared[1][3] = 0.1 - 0.5;
  shared[1][5] = 0.1 - 0.25;
  shared[1][7] = 0.1 - 0.25;
  const auto layer = find_output_layer(shared, 10);
  ASSERT_TRUE(layer.has_value());
  EXPECT_EQ(layer->weight, 0);
  EXPECT_EQ(layer->bias, 1);
  EXPECT_EQ(infer_labels(shared, *layer, 4, 1.0), (std::vector<int64_t>{3, 3, 5, 7}));
  // A weight change points against the gradient: the sign turns it back.
  for (torch::Tensor& t : shared) t = -t;
  EXPECT_EQ(infer_labels(shared, *layer, 4, -1.0), (std::vector<int64_t>{3, 3, 5, 7}));
}

}  // namespace
}  // namespace advtk
