// The client's update: the gradient, and the weight change after local SGD steps, which for one
// step is −lr times the gradient; the model's own parameters are left as they were.
#include <gtest/gtest.h>

#include "leak_test_util.h"

namespace advtk {
namespace {

TEST(SharedUpdate, OneLocalStepIsMinusTheLearningRateTimesTheGradient) {
  Model model = test::leak_model(Architecture::DlgLeNet, 2);
  const torch::Tensor x = torch::rand({2, 1, 28, 28}, make_generator(1));
  const torch::Tensor y = torch::tensor({3L, 8L});
  const std::vector<torch::Tensor> before = [&] {
    std::vector<torch::Tensor> v;
    for (const torch::Tensor& p : shared_parameters(model)) v.push_back(p.detach().clone());
    return v;
  }();
  const auto g = test::shared_gradient(model, x, y);
  // θ1 − θ0 in float32 carries the rounding of θ (about 1e-8 here).
  ClientProtocol one{1, 0.01};
  const auto delta = test::shared_gradient(model, x, y, one);
  ASSERT_EQ(g.size(), delta.size());
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_TRUE(torch::allclose(delta[i], -0.01 * g[i], 1e-3, 1e-7)) << "parameter " << i;
  ClientProtocol three{3, 0.01};
  const auto delta3 = test::shared_gradient(model, x, y, three);
  EXPECT_GT((flatten_all(delta3) - flatten_all(delta) * 3).abs().max().item<double>(), 0)
      << "later steps see the moved parameters";
  const auto params = shared_parameters(model);
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::equal(params[i].detach(), before[i])) << "the model was changed";
}

TEST(SharedUpdate, TheAttackersUpdateDifferentiatesToTheInput) {
  Model model = test::leak_model(Architecture::DlgLeNet, 2);
  ParameterGradientScope scope(model);
  for (const int64_t steps : {0, 2}) {
    const torch::Tensor x = torch::rand({1, 1, 28, 28}, make_generator(3)).requires_grad_(true);
    const torch::Tensor probs = torch::softmax(torch::randn({1, 10}, make_generator(4)), 1);
    const auto u = client_update(model, x, probs, {steps, 0.01}, /*create_graph=*/true);
    torch::Tensor s = torch::zeros({});
    for (const torch::Tensor& t : u) s = s + t.pow(2).sum();
    const torch::Tensor gx = torch::autograd::grad({s}, {x})[0];
    EXPECT_GT(gx.abs().sum().item<double>(), 0) << steps << " local steps";
    // Finite differences along the gradient agree to first order.
    const double h = 1e-3;
    const torch::Tensor dir = gx / gx.norm();
    const auto value = [&](const torch::Tensor& at) {
      const auto v = client_update(model, at, probs, {steps, 0.01}, false);
      return squared_norm(v);
    };
    const double fd = (value((x + h * dir).detach()) - value((x - h * dir).detach())) / (2 * h);
    EXPECT_NEAR(fd, gx.norm().item<double>(), 0.05 * gx.norm().item<double>());
  }
}

}  // namespace
}  // namespace advtk
