#include "models/zoo.h"

#include <gtest/gtest.h>

#include "models/model.h"
#include "test_util.h"

namespace advtk {
namespace {

int64_t parameter_count(const torch::jit::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(Zoo, EveryArchitectureGivesLogitsForGreyAndColourInputs) {
  for (const std::string& name : architecture_names()) {
    for (const std::vector<int64_t>& shape :
         {std::vector<int64_t>{1, 28, 28}, std::vector<int64_t>{3, 32, 32}}) {
      ZooOptions o;
      o.input_shape = shape;
      o.num_classes = 7;
      Model model = Model::wrap(build_zoo_model(parse_architecture(name), o), {}, name);
      EXPECT_EQ(model.probe(shape, 7).num_classes, 7) << name;
      EXPECT_EQ(model.recorded_input_shape(), shape) << name;
    }
  }
}

TEST(Zoo, ParameterCountsMatchTheDocumentedLayers) {
  ZooOptions o;  // 1x28x28, 10 classes
  // conv 1->32 (320) + conv 32->64 (18,496) + fc 3136->128 (401,536) + fc 128->10 (1,290).
  EXPECT_EQ(parameter_count(build_zoo_model(Architecture::Cnn, o)), 421642);
  // LeNet-5: 156 + 2,416 + 48,120 + 10,164 + 850.
  EXPECT_EQ(parameter_count(build_zoo_model(Architecture::LeNet, o)), 61706);
  // 784*256+256 + 256*256+256 + 256*10+10.
  EXPECT_EQ(parameter_count(build_zoo_model(Architecture::Mlp, o)), 269322);
}

TEST(Zoo, InitialisationFollowsPyTorchDefaults) {
  ZooOptions o;
  o.seed = 5;
  const torch::jit::Module m = build_zoo_model(Architecture::Cnn, o);
  const torch::Tensor w = m.attr("fc1_w").toTensor();  // fan_in 3136
  const double bound = 1.0 / std::sqrt(3136.0);
  EXPECT_LE(w.abs().max().item<double>(), bound);
  // U(-b, b) has standard deviation b / sqrt(3).
  EXPECT_NEAR(w.std().item<double>(), bound / std::sqrt(3.0), 0.01 * bound);
  // Seeded: the same seed gives the same weights, another seed others.
  EXPECT_TRUE(torch::equal(build_zoo_model(Architecture::Cnn, o).attr("fc1_w").toTensor(), w));
  o.seed = 6;
  EXPECT_FALSE(torch::equal(build_zoo_model(Architecture::Cnn, o).attr("fc1_w").toTensor(), w));
}

TEST(Zoo, ResNetTakesAnyInputSizeAndUsesBatchStatisticsInTraining) {
  ZooOptions o;
  o.input_shape = {3, 17, 23};
  Model model = Model::wrap(build_zoo_model(Architecture::ResNet, o), {}, "resnet");
  const torch::Tensor x = torch::rand({4, 3, 17, 23});
  torch::NoGradGuard no_grad;
  const torch::Tensor eval_out = model.logits(x);
  EXPECT_EQ(eval_out.sizes(), (std::vector<int64_t>{4, 10}));
  {
    TrainingScope scope(model);
    EXPECT_FALSE(torch::allclose(model.logits(x), eval_out));
  }
  // Training mode updated the running statistics, so eval outputs changed too.
  EXPECT_FALSE(torch::allclose(model.logits(x), eval_out));
}

TEST(Zoo, SaveLoadRoundTripGivesIdenticalOutputs) {
  test::TempDir dir;
  for (const std::string& name : architecture_names()) {
    Model model = Model::wrap(build_zoo_model(parse_architecture(name), {}), {}, name);
    model.save(dir.file(name + ".pt"));
    const Model loaded = Model::load(dir.file(name + ".pt"), {});
    const torch::Tensor x = torch::rand({3, 1, 28, 28});
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(model.logits(x), loaded.logits(x))) << name;
    EXPECT_EQ(loaded.module().attr("advtk_arch").toStringRef(), name);
  }
}

TEST(Zoo, RejectsBadOptions) {
  ZooOptions o;
  o.input_shape = {1, 2, 2};
  EXPECT_NE(test::error_of([&] { build_zoo_model(Architecture::Cnn, o); }).find("too small"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { parse_architecture("vgg"); }).find("--arch"), std::string::npos);
  o = {};
  o.num_classes = 1;
  EXPECT_NE(test::error_of([&] { build_zoo_model(Architecture::Mlp, o); }).find("--num-classes"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
