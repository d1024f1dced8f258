#include "training/optimizer_factory.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk {
namespace {

// One optimizer step on loss = sum(c * w), whose gradient is c everywhere.
torch::Tensor step_once(OptimizerSettings s, torch::Tensor w0, const torch::Tensor& c,
                        int steps = 1) {
  torch::Tensor w = w0.clone().requires_grad_(true);
  auto opt = make_optimizer({w}, s);
  for (int i = 0; i < steps; ++i) {
    opt->zero_grad();
    (c * w).sum().backward();
    opt->step();
  }
  return w.detach();
}

const torch::Tensor kW0 = torch::tensor({0.5, -1.0, 2.0}, torch::kDouble);
const torch::Tensor kGrad = torch::tensor({0.2, -3.0, 0.05}, torch::kDouble);

OptimizerSettings with(OptimizerKind kind, double lr) {
  OptimizerSettings s;
  s.kind = kind;
  s.lr = lr;
  s.eps = 1e-12;
  return s;
}

TEST(Optimizers, SgdAndMomentumStepsMatchTheirUpdateRules) {
  EXPECT_TRUE(
      torch::allclose(step_once(with(OptimizerKind::Sgd, 0.1), kW0, kGrad), kW0 - 0.1 * kGrad));
  // Momentum 0.9 with a constant gradient: v1 = g, v2 = 1.9 g.
  EXPECT_TRUE(torch::allclose(step_once(with(OptimizerKind::Momentum, 0.1), kW0, kGrad, 2),
                              kW0 - 0.1 * kGrad - 0.1 * 1.9 * kGrad));
  // Nesterov looks ahead: the first step already uses g + 0.9 v1 = 1.9 g.
  EXPECT_TRUE(torch::allclose(step_once(with(OptimizerKind::Nesterov, 0.1), kW0, kGrad),
                              kW0 - 0.1 * 1.9 * kGrad));
}

TEST(Optimizers, AdaptiveFirstStepsHaveTheirKnownSize) {
  // Adam, AdamW and Adagrad: the first step is lr * sign(g), whatever |g|.
  for (auto kind : {OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::Adagrad}) {
    auto s = with(kind, 0.01);
    if (kind == OptimizerKind::AdamW) s.weight_decay = 0;
    EXPECT_TRUE(torch::allclose(step_once(s, kW0, kGrad), kW0 - 0.01 * kGrad.sign(), 1e-9, 1e-9))
        << optimizer_name(kind);
  }
  // RMSprop (alpha 0.99): the square average is 0.01 g², so the step is lr * g / (0.1 |g|).
  EXPECT_TRUE(torch::allclose(step_once(with(OptimizerKind::RmsProp, 0.01), kW0, kGrad),
                              kW0 - 0.1 * kGrad.sign(), 1e-9, 1e-9));
}

TEST(Optimizers, AdamWDecaysWeightsDecoupledFromTheGradient) {
  auto s = with(OptimizerKind::AdamW, 0.1);
  s.weight_decay = 0.5;
  // With a zero gradient only the decoupled decay acts: w <- w (1 - lr * wd).
  EXPECT_TRUE(torch::allclose(step_once(s, kW0, torch::zeros_like(kW0)), kW0 * (1 - 0.05)));
}

TEST(Optimizers, EveryOptimizerReducesTheLossOfASmallClassifier) {
  auto gen = at::detail::createCPUGenerator(1);
  const torch::Tensor centers = torch::tensor({{2.0f, 0.0f}, {-2.0f, 1.0f}, {0.0f, -2.0f}});
  const torch::Tensor y = torch::arange(90, torch::kLong) % 3;
  const torch::Tensor x = centers.index_select(0, y) + 0.5 * torch::randn({90, 2}, gen);
  for (const std::string& name : optimizer_names()) {
    torch::Tensor w = torch::zeros({3, 2}, torch::requires_grad());
    torch::Tensor b = torch::zeros({3}, torch::requires_grad());
    OptimizerSettings s;
    s.kind = parse_optimizer(name);
    s.lr = 0.05;
    auto opt = make_optimizer({w, b}, s);
    const auto loss = [&] {
      return torch::nn::functional::cross_entropy(torch::addmm(b, x, w.t()), y);
    };
    const double initial = loss().item<double>();
    for (int i = 0; i < 200; ++i) {
      opt->zero_grad();
      loss().backward();
      opt->step();
    }
    EXPECT_LT(loss().item<double>(), 0.5 * initial) << name;
  }
}

TEST(Optimizers, RejectsImpossibleSettings) {
  torch::Tensor w = torch::zeros({1}, torch::requires_grad());
  auto s = with(OptimizerKind::Adam, -1);
  EXPECT_NE(test::error_of([&] { make_optimizer({w}, s); }).find("--lr"), std::string::npos);
  s = with(OptimizerKind::Adam, 0.1);
  s.beta2 = 1.0;
  EXPECT_NE(test::error_of([&] { make_optimizer({w}, s); }).find("--betas"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_optimizer("lbfgs"); }).find("--optimizer"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
