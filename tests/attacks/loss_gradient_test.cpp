// Loss gradients: averaged over EOT passes on randomised models, and smoothed across a staircase.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/loss_gradient.h"
#include "attacks/losses.h"

namespace advtk {
namespace {

using test::problem;

// With a tiny σ the smoothed gradient of a smooth loss (CE on an affine model) is its gradient:
// the estimate must converge to it as samples grow.
TEST(SmoothedGradient, ConvergesToTheTrueGradientOfASmoothLoss) {
  const test::AffineProblem p = test::problem(4, 3, 20, 3);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const torch::Tensor x = p.x.view({4, 1, 4, 5});
  const LossOfLogits loss = [&](const torch::Tensor& z) {
    return attack_loss({LossKind::CrossEntropy}, z, p.y, {});
  };
  const torch::Tensor exact = loss_gradient(model, x, loss).grad.flatten(1);
  double previous = -1;
  for (int64_t samples : {10, 100, 2000}) {
    auto gens = example_generators(1, torch::arange(4), 0);
    const torch::Tensor est =
        smoothed_loss_gradient(model, x, loss, samples, 1e-3, gens).grad.flatten(1);
    const double cos = torch::cosine_similarity(est, exact, 1).min().item<double>();
    EXPECT_GT(cos, previous - 0.02) << samples;
    previous = cos;
  }
  EXPECT_GT(previous, 0.97);
}

// Behind round() autograd sees nothing; the smoothed estimate (σ across several steps) sees
// the trend of the staircase.
TEST(SmoothedGradient, SeesThroughAStaircaseWhereAutogradIsZero) {
  torch::jit::Module stairs("Stairs");
  stairs.register_attribute("training", c10::BoolType::get(), false);
  stairs.define(
      "def forward(self, x):\n"
      "  q = torch.round(torch.flatten(x, 1) * 10.0) / 10.0\n"
      "  s = q.sum(1, keepdim=True)\n"
      "  return torch.cat([s, -s], 1)\n");
  const Model model = Model::wrap(stairs, {}, "stairs");
  const torch::Tensor x = torch::full({2, 1, 2, 2}, 0.5);
  const torch::Tensor y = torch::tensor({1, 1});
  const LossOfLogits loss = [&](const torch::Tensor& z) {
    return attack_loss({LossKind::Margin}, z, y, {});
  };
  EXPECT_EQ(loss_gradient(model, x, loss).grad.abs().sum().item<double>(), 0.0);
  auto gens = example_generators(2, torch::arange(2), 0);
  const torch::Tensor est = smoothed_loss_gradient(model, x, loss, 500, 0.2, gens).grad;
  // The margin is 2·Σq: its smoothed slope is +2 per coordinate.
  EXPECT_TRUE(est.gt(0).all().item<bool>()) << est;
  EXPECT_NEAR(est.mean().item<double>(), 2.0, 0.5);
}

// logits = W · relu(x + σ·noise): a randomised model whose expected gradient is a smooth
// function of x, unlike any single draw's.
Model noisy_relu_model(const torch::Tensor& w) {
  torch::jit::Module m("NoisyRelu");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.define(
      "def forward(self, x):\n"
      "    h = torch.relu(torch.flatten(x, 1) + 0.5 * torch.randn_like(torch.flatten(x, 1)))\n"
      "    return torch.mm(h, self.w.t())\n");
  return Model::wrap(m, {}, "noisy");
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::cosine_similarity(a.flatten(), b.flatten(), 0).item<double>();
}

TEST(Eot, TheGradientApproachesTheExpectedGradientAsPassesGrow) {
  torch::manual_seed(3);
  auto gen = make_generator(2);
  const torch::Tensor w = torch::randn({3, 64}, gen);
  const torch::Tensor x = torch::randn({1, 1, 8, 8}, gen) * 0.3;
  const Model model = noisy_relu_model(w);
  const LossOfLogits loss = [](const torch::Tensor& z) { return z.select(1, 0); };
  // E[∇ z_0] = w_0 · P(x + σn > 0) = w_0 · Φ(x / σ), in closed form.
  const torch::Tensor expected =
      w[0] * 0.5 * (1 + torch::erf(x.flatten() / (0.5 * std::sqrt(2.0))));
  double mean_1 = 0, mean_64 = 0;
  for (int trial = 0; trial < 10; ++trial) {
    mean_1 += cosine(loss_gradient(model, x, loss, 1).grad, expected) / 10;
    mean_64 += cosine(loss_gradient(model, x, loss, 64).grad, expected) / 10;
  }
  EXPECT_GT(mean_64, mean_1 + 0.05);
  EXPECT_GT(mean_64, 0.97);
}

TEST(Eot, ChangesNothingOnADeterministicModel) {
  const auto p = problem(5, 4, 20, 1);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const LossOfLogits loss = [&](const torch::Tensor& z) {
    return attack_loss({LossKind::CrossEntropy}, z, p.y, {});
  };
  const LossGradient one = loss_gradient(model, p.x, loss, 1);
  const LossGradient many = loss_gradient(model, p.x, loss, 7);
  EXPECT_TRUE(torch::allclose(one.grad, many.grad, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(one.loss, many.loss, 1e-5, 1e-6));
}

}  // namespace
}  // namespace advtk
