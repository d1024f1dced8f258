// The feature layer: the last linear layer's input is what that layer maps to the logits, and a
// named submodule's output matches what the model itself returns for it.
#include "models/feature_layer.h"

#include <gtest/gtest.h>

#include "core/seeding.h"
#include "data/tensor_file.h"
#include "models/zoo.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;
using test::fixture;

TEST(FeatureLayer, TheZooCnnsFeaturesAreWhatItsLastLinearLayerMapsToTheLogits) {
  ZooOptions z;
  z.seed = 3;
  const Model model = Model::wrap(build_zoo_model(Architecture::Cnn, z), {}, "cnn");
  const FeatureLayer layer = FeatureLayer::find(model);
  EXPECT_EQ(layer.description(), "input of the last linear layer (aten::addmm)");
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({5, 1, 28, 28}, make_generator(4));
  const torch::Tensor f = layer(x);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{5, 128}));
  const torch::Tensor w = model.module().attr("fc2_w").toTensor();
  const torch::Tensor b = model.module().attr("fc2_b").toTensor();
  EXPECT_TRUE(torch::allclose(torch::addmm(b, f, w.t()), model.logits(x), 1e-5, 1e-5));
  EXPECT_GE(f.min().item<float>(), 0.0f);                            // it follows a ReLU
  EXPECT_TRUE(torch::allclose(layer.extract(x, 2), f, 1e-5, 1e-6));  // batches of 2
}

TEST(FeatureLayer, ReadsTheSubmodulesOfAPythonScriptedModel) {
  // The fixture computes h = relu(bn(conv(x))) and returns (fc(flatten(h)), h).
  ModelOptions o;
  o.output_index = 1;
  const Model model = Model::load(fixture("python_tiny_model.pt"), o);
  const torch::Tensor x = load_tensor_dict(fixture("python_tiny_model_io.pt")).at("x");
  torch::NoGradGuard no_grad;
  const torch::Tensor h = model.logits(x).flatten(1);
  EXPECT_TRUE(torch::allclose(FeatureLayer::find(model)(x), h, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(torch::relu(FeatureLayer::find(model, "bn")(x)), h, 1e-6, 1e-6));
  ModelOptions logits_options;
  logits_options.output_index = 0;
  const Model first = Model::load(fixture("python_tiny_model.pt"), logits_options);
  const FeatureLayer fc = FeatureLayer::find(first, "fc");
  EXPECT_EQ(fc.description(), "output of submodule fc");
  EXPECT_TRUE(torch::allclose(fc(x), first.logits(x), 1e-6, 1e-6));
}

TEST(FeatureLayer, AModelWithoutTheLayerGetsOneLine) {
  ModelOptions o;
  o.output_index = 0;
  const Model model = Model::load(fixture("python_tiny_model.pt"), o);
  const std::string unknown = error_of([&] { FeatureLayer::find(model, "conv2"); });
  EXPECT_NE(unknown.find("--feature-layer conv2"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("submodules: conv, bn, fc"), std::string::npos) << unknown;
  torch::jit::Module m("NoLinear");
  m.register_parameter("w", torch::ones({1}), false);
  m.define("def forward(self, x):\n    return torch.mean(x, [2, 3]) * self.w\n");
  const std::string none = error_of([&] { FeatureLayer::find(Model::wrap(m, {}, "pooled")); });
  EXPECT_NE(none.find("pooled: no linear layer"), std::string::npos) << none;
  EXPECT_EQ(none.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace advtk
