// APGD against affine models with known answers, and against PGD on a trained CNN.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/apgd.h"
#include "core/error.h"
#include "trained_cnn.h"

namespace advtk {
namespace {

using test::attack;
using test::batch_of;
using test::problem;
using test::robust_accuracy;

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

class ApgdOnTheCnn : public test::CnnTest {};

TEST_F(ApgdOnTheCnn, ApgdIsAtLeastAsStrongAsPgd) {
  const OptionValues pgd = OptionValues().set("steps", int64_t{40}).set("step-size", 0.01);
  const double apgd = robust_accuracy(attack("apgd", {0.05})[0]);
  EXPECT_LE(apgd, robust_accuracy(attack("pgd", {0.05}, pgd)[0]) + 0.01);
}

}  // namespace
}  // namespace advtk
