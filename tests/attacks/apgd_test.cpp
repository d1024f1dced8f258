// APGD, noise, ensembles, transfer, EOT and BPDA against models with known answers.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/apgd.h"
#include "attacks/ensemble.h"
#include "attacks/iterative_attack.h"
#include "attacks/loss_gradient.h"
#include "attacks/noise.h"
#include "attacks/transfer.h"
#include "core/error.h"

namespace advtk {
namespace {

using test::batch_of;
using test::problem;

const char* dual_of(Norm norm) {
  return norm == Norm::Linf ? "l1" : norm == Norm::L2 ? "l2" : "linf";
}

TEST(Apgd, CheckpointsFollowThePaper) {
  // p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), times 100 iterations.
  EXPECT_EQ(apgd_checkpoints(100), (std::vector<int64_t>{22, 41, 57, 70, 80, 87, 93, 99}));
}

// Two classes: one boundary, so the loss gradient points at it and the minimal distance is the
// answer for every norm.
TEST(Apgd, BreaksAffineModelsJustAboveTheMinimalDistanceAndNoneBelow) {
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const auto p = problem(10, 2, 20, 7);
    const Model model = test::affine_model(p.w, p.b, -100, 100);
    const torch::Tensor min_d = test::affine_min_distance(p, dual_of(norm));
    // L1's sparse step spreads over the top-k coordinates and concentrates on the best one only
    // as k adapts, so it gets a wider margin above the minimum.
    const double above = norm == Norm::L1 ? 1.5 : 1.05;
    for (const double factor : {above, 0.95}) {
      // Each example alone, at its own budget.
      for (int64_t i = 0; i < 10; ++i) {
        ApgdOptions o;
        o.threat = {norm, factor * min_d[i].item<double>(), -100, 100};
        o.loss = LossKind::Margin;
        const AttackBatch b = select_examples(batch_of(p), torch::tensor({i}));
        const AttackResult r = Apgd(o).run(model, b);
        EXPECT_EQ(r.success.item<bool>(), factor > 1) << norm_name(norm) << " example " << i;
        EXPECT_LE(r.distance.item<double>(), o.threat.eps * (1 + 1e-5) + 1e-6);
        // Unbroken, it reports its highest-loss point: on the ball's edge towards the boundary.
        if (factor < 1) EXPECT_GT(r.distance.item<double>(), 0.9 * o.threat.eps);
        torch::NoGradGuard no_grad;
        EXPECT_EQ(model.logits(r.x_adv).argmax(1).item<int64_t>(), r.pred.item<int64_t>());
      }
    }
  }
}

TEST(Apgd, NeverLeavesTheBallOrTheBox) {
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    for (bool targeted : {false, true}) {
      auto gen = make_generator(11);
      const torch::Tensor w = torch::randn({5, 16}, gen), b = torch::randn({5}, gen);
      const torch::Tensor x = torch::rand({12, 1, 4, 4}, gen);
      const Model model = test::affine_model(w, b);
      ApgdOptions o;
      o.threat = {norm, norm == Norm::Linf ? 0.05 : 0.5, 0, 1};
      o.steps = 20;
      o.targeted = targeted;
      const AttackBatch batch{x, torch::zeros({12}, torch::kLong), {}, torch::arange(12)};
      const AttackResult r = Apgd(o).run(model, batch);
      EXPECT_GE(r.x_adv.min().item<double>(), 0);
      EXPECT_LE(r.x_adv.max().item<double>(), 1);
      EXPECT_LE(distance(norm, r.x_adv, x).max().item<double>(), o.threat.eps * (1 + 1e-5));
      EXPECT_GT(r.backward_calls.sum().item<int64_t>(), 0);
    }
  }
}

TEST(Apgd, TheL1LargeBudgetScheduleStillReportsOnlyPointsWithinEps) {
  auto gen = make_generator(4);
  const torch::Tensor w = torch::randn({5, 16}, gen), b = torch::randn({5}, gen);
  const torch::Tensor x = torch::rand({16, 1, 4, 4}, gen);
  const Model model = test::affine_model(w, b);
  torch::Tensor y;
  {
    torch::NoGradGuard no_grad;
    y = model.logits(x).argmax(1);
  }
  ApgdOptions o;
  o.threat = {Norm::L1, 0.3, 0, 1};
  o.steps = 30;
  o.large_reps = true;
  const AttackResult r = Apgd(o).run(model, {x, y, {}, torch::arange(16)});
  EXPECT_LE(distance(Norm::L1, r.x_adv, x).max().item<double>(), 0.3 * (1 + 1e-5));
  EXPECT_GE(r.x_adv.min().item<double>(), 0);
  EXPECT_LE(r.x_adv.max().item<double>(), 1);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(model.logits(r.x_adv).argmax(1).ne(y), r.success));
  // A larger budget breaks more: the schedule's success at 3ε must not leak into ε.
  o.threat.eps = 3;
  const AttackResult big = Apgd(o).run(model, {x, y, {}, torch::arange(16)});
  EXPECT_GE(big.success.sum().item<int64_t>(), r.success.sum().item<int64_t>());
  o.threat.norm = Norm::Linf;
  EXPECT_THROW(Apgd{o}, Error);
}

TEST(Apgd, TargetedReachesTheGivenTarget) {
  const auto p = problem(6, 4, 20, 3);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  AttackBatch b = batch_of(p);
  b.target = (p.y + 1) % 4;
  ApgdOptions o;
  o.threat = {Norm::L2, 50, -100, 100};
  const AttackResult r = Apgd(o).run(model, b);
  EXPECT_TRUE(r.success.all().item<bool>());
  EXPECT_TRUE(torch::equal(r.pred, b.target));
}

TEST(Apgd, BadOptionsFailClearly) {
  ApgdOptions o;
  o.threat = {Norm::Linf, 0.1};
  o.steps = 0;
  EXPECT_THROW(Apgd{o}, Error);
  o.steps = 10;
  o.threat.eps = -1;
  EXPECT_THROW(Apgd{o}, Error);
  o.threat.eps = 0.1;
  o.eot = 0;
  EXPECT_THROW(Apgd{o}, Error);
}

TEST(Noise, CannotBreakBelowTheMinimalDistanceAndStaysInTheBall) {
  const auto p = problem(10, 4, 20, 5);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const torch::Tensor min_d = test::affine_min_distance(p, "l1");
  for (NoiseKind kind : {NoiseKind::Uniform, NoiseKind::Gaussian}) {
    NoiseOptions o;
    o.threat = {Norm::Linf, 0.99 * min_d.min().item<double>(), -100, 100};
    o.kind = kind;
    o.draws = 50;
    const AttackResult r = NoiseAttack(o).run(model, batch_of(p));
    EXPECT_FALSE(r.success.any().item<bool>());
    EXPECT_TRUE(torch::equal(r.forward_calls, torch::full({10}, 51, torch::kLong)));
    EXPECT_EQ(r.backward_calls.sum().item<int64_t>(), 0);
    // A budget far beyond every boundary: noise breaks some.
    o.threat.eps = 100 * min_d.max().item<double>();
    const AttackResult big = NoiseAttack(o).run(model, batch_of(p));
    EXPECT_TRUE(big.success.any().item<bool>());
    EXPECT_LE(big.distance.max().item<double>(), o.threat.eps * (1 + 1e-6));
  }
}

TEST(Ensemble, AnExampleIsRobustOnlyIfEveryAttackFailed) {
  const auto p = problem(40, 4, 20, 9);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  const double eps = test::affine_min_distance(p, "l1").median().item<double>();
  const ThreatModel threat{Norm::Linf, eps, -100, 100};
  NoiseOptions n;
  n.threat = threat;
  n.draws = 20;
  IterativeAttackOptions pgd;
  pgd.threat = threat;
  pgd.steps = 10;
  const AttackResult noise_alone = NoiseAttack(n).run(model, batch_of(p));
  const AttackResult pgd_alone = make_pgd(pgd)->run(model, batch_of(p));
  std::vector<std::unique_ptr<Attack>> list;
  list.push_back(std::make_unique<NoiseAttack>(n));
  list.push_back(make_pgd(pgd));
  EnsembleAttack suite("noise,pgd", std::move(list));
  const AttackResult r = suite.run(model, batch_of(p));
  // Per-example seeds: each attack does on an example what it does alone.
  EXPECT_TRUE(torch::equal(r.success, noise_alone.success | pgd_alone.success));
  EXPECT_TRUE(torch::equal(r.broken_by.eq(0), noise_alone.success));
  EXPECT_TRUE(torch::equal(r.broken_by.eq(1), pgd_alone.success & ~noise_alone.success));
  EXPECT_TRUE(torch::equal(r.broken_by.eq(-1), ~r.success));
  EXPECT_EQ(suite.parameters()["attacks"].size(), 2u);
}

TEST(Transfer, FromTheModelItselfEqualsTheDirectAttack) {
  const auto p = problem(20, 2, 20, 4);  // two classes: the opposite model's loss is our margin
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  IterativeAttackOptions o;
  o.threat = {Norm::L2, test::affine_min_distance(p, "l2").median().item<double>(), -100, 100};
  o.steps = 20;
  const AttackResult direct = make_pgd(o)->run(model, batch_of(p));
  TransferAttack transfer(make_pgd(o), model);
  const AttackResult r = transfer.run(model, batch_of(p));
  EXPECT_TRUE(torch::equal(r.success, direct.success));
  // A surrogate with the opposite weights pushes the wrong way: nothing transfers.
  const Model opposite = test::affine_model(-p.w, -p.b, -100, 100);
  const AttackResult wrong = TransferAttack(make_pgd(o), opposite).run(model, batch_of(p));
  EXPECT_FALSE(wrong.success.any().item<bool>());
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

torch::jit::Module front_end(const std::string& body) {
  torch::jit::Module m("FrontEnd");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.define("def forward(self, x):\n    return " + body + "\n");
  return m;
}

TEST(Bpda, TheGradientSkipsTheFrontEndAndTheForwardKeepsIt) {
  const auto p = problem(6, 4, 20, 8);
  ModelOptions with, plain;
  with.input_lo = plain.input_lo = -100;
  with.input_hi = plain.input_hi = 100;
  with.preprocess = front_end("torch.round(x * 4.0) / 4.0");
  ModelOptions bpda = with;
  bpda.bpda = true;
  const torch::Tensor w = p.w, b = p.b;
  const auto wrap = [&](const ModelOptions& o) {
    return Model::wrap(test::affine_model(w, b, -100, 100).module(), o, "affine");
  };
  const Model quantised = wrap(with), through = wrap(bpda), bare = wrap(plain);
  const LossOfLogits loss = [&](const torch::Tensor& z) {
    return attack_loss({LossKind::CrossEntropy}, z, p.y, {});
  };
  // round has a zero derivative: no gradient reaches the input without BPDA.
  EXPECT_EQ(loss_gradient(quantised, p.x, loss).grad.abs().max().item<double>(), 0.0);
  // With BPDA the gradient is the bare model's at the quantised point; the logits are the
  // quantised model's.
  const torch::Tensor xq = torch::round(p.x * 4) / 4;
  EXPECT_TRUE(torch::allclose(loss_gradient(through, p.x, loss).grad,
                              loss_gradient(bare, xq, loss).grad, 1e-5, 1e-6));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(through.logits(p.x), bare.logits(xq)));
  // On a differentiable identity front end BPDA changes nothing.
  ModelOptions identity = plain;
  identity.preprocess = front_end("x * 1.0");
  ModelOptions identity_bpda = identity;
  identity_bpda.bpda = true;
  torch::AutoGradMode grad_mode(true);
  EXPECT_TRUE(torch::allclose(loss_gradient(wrap(identity), p.x, loss).grad,
                              loss_gradient(wrap(identity_bpda), p.x, loss).grad));
}

TEST(Bpda, NeedsAFrontEndAndOneThatKeepsTheShape) {
  const auto p = problem(2, 4, 20, 8);
  ModelOptions o;
  o.bpda = true;
  EXPECT_THROW(Model::wrap(test::affine_model(p.w, p.b).module(), o, "m"), Error);
  o.bpda = false;
  o.preprocess = front_end("torch.flatten(x, 1)");
  const Model m = Model::wrap(test::affine_model(p.w, p.b).module(), o, "m");
  EXPECT_THROW(m.logits(p.x), Error);
}

}  // namespace
}  // namespace advtk
