// DLG (and iDLG, DLG with the label fixed) on the DLG paper's network and data of its kind:
// near pixel-perfect batch-1 reconstructions, as Zhu et al. report on LeNets, and nothing from a
// gradient that carries no information.
#include <gtest/gtest.h>

#include "leak_test_util.h"
#include "leakage/dlg.h"
#include "leakage/image_metrics.h"

namespace advtk {
namespace {

TEST(Dlg, ReconstructsBatchOneFashionMnistAbove30Db) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 2);
  Model model = test::leak_model(Architecture::DlgLeNet);
  for (int64_t i = 0; i < data.size(); ++i) {
    const torch::Tensor x = data.images.narrow(0, i, 1), y = data.labels.narrow(0, i, 1);
    const auto shared = test::shared_gradient(model, x, y);
    ParameterGradientScope scope(model);
    torch::Generator gen = make_generator(11, i);
    DlgOptions o;
    o.restarts = 3;  // one draw in twenty settles in a poor minimum (README)
    const Reconstruction r = run_dlg(test::fashion_problem(model, shared), o, gen);
    EXPECT_GT(image_psnr(r.x.clamp(0, 1), x)[0].item<double>(), 30) << "example " << i;
    EXPECT_EQ(r.labels[0].item<int64_t>(), y[0].item<int64_t>()) << "the learnt soft label";
  }
}

TEST(Dlg, AGradientOfPureNoiseGivesNoMoreThanARandomImage) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Dataset data = test::fashion(Split::Test, 1);
  Model model = test::leak_model(Architecture::DlgLeNet);
  const auto real = test::shared_gradient(model, data.images, data.labels);
  torch::Generator noise_gen = make_generator(5);
  std::vector<torch::Tensor> noise;
  for (const torch::Tensor& g : real)
    noise.push_back(torch::randn(g.sizes(), noise_gen) * g.std().item<double>());
  ParameterGradientScope scope(model);
  torch::Generator gen = make_generator(12);
  DlgOptions o;
  o.iterations = 50;
  const Reconstruction r = run_dlg(test::fashion_problem(model, noise), o, gen);
  const double psnr = image_psnr(r.x.clamp(0, 1), data.images)[0].item<double>();
  const double random =
      image_psnr(torch::rand(data.images.sizes(), make_generator(13)), data.images)[0]
          .item<double>();
  EXPECT_LT(psnr, random + 3) << "random image " << random << " dB";
}

}  // namespace
}  // namespace advtk
