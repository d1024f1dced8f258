// FAB against theory: the projections satisfy their optimality conditions, and on affine
// classifiers the attack lands on the closed-form minimal perturbation.
#include "attacks/fab.h"
#include "models/zoo.h"

#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "core/error.h"

namespace advtk {
namespace {

using torch::Tensor;

using test::AffineProblem;
using test::batch_of;
using test::problem;

// The dual norm of the attack's norm: the distance from x to the hyperplane w·z + b = 0 is
// |w·x + b| / ||w||_dual.
double dual_norm(Norm norm, const Tensor& v) {
  switch (norm) {
    case Norm::Linf:
      return v.abs().sum().item<double>();
    case Norm::L2:
      return v.norm().item<double>();
    case Norm::L1:
      return v.abs().max().item<double>();
  }
  return 0;
}

// For an affine model with no box: the exact minimal distance (in `norm`) that makes class y
// lose to some class j, min_j (z_y - z_j) / ||w_y - w_j||_dual. For a given target, the distance
// to its hyperplane with y is a lower bound on reaching it.
double affine_min(Norm norm, const AffineProblem& p, int64_t i, int64_t only = -1) {
  const Tensor z = torch::mv(p.w, p.x[i].flatten()) + p.b;
  const int64_t y = p.y[i].item<int64_t>();
  double best = 1e300;
  for (int64_t j = 0; j < p.w.size(0); ++j) {
    if (j == y || (only >= 0 && j != only)) continue;
    best = std::min(best, (z[y] - z[j]).item<double>() / dual_norm(norm, p.w[y] - p.w[j]));
  }
  return best;
}

FabOptions options_for(Norm norm, double eps, double lo, double hi) {
  FabOptions o;
  o.threat = {norm, eps, lo, hi};
  return o;
}

// Every result must be honest: inside the box, success ⇔ (adversarial on x_adv by a fresh
// forward pass and within eps), and x_adv within eps for every example.
void expect_consistent(const Model& model, const AttackBatch& batch, const AttackResult& r,
                       const ThreatModel& tm) {
  EXPECT_GE(r.x_adv.min().item<double>(), tm.lo);
  EXPECT_LE(r.x_adv.max().item<double>(), tm.hi);
  const Tensor dist = distance(tm.norm, r.x_adv, batch.x);
  EXPECT_LE(dist.max().item<double>(), tm.eps);
  EXPECT_TRUE(torch::allclose(dist, r.distance));
  Tensor pred;
  {
    torch::NoGradGuard no_grad;
    pred = model.logits(r.x_adv).argmax(1);
  }
  EXPECT_TRUE(torch::equal(pred, r.pred));
  EXPECT_TRUE(torch::equal(r.success, is_adversarial_pred(pred, batch.y, batch.target)));
}

// Checks the optimality conditions of the minimal step onto {z : w·(z - t) = -c} in the box
// [0, 1], row by row; returns the number of rows that could reach their hyperplane.
int64_t check_projection(Norm norm, const Tensor& t, const Tensor& w, const Tensor& c,
                         const Tensor& d) {
  int64_t reachable = 0;
  for (int64_t i = 0; i < t.size(0); ++i) {
    const Tensor ti = t[i].to(torch::kDouble), di = d[i].to(torch::kDouble);
    // Oriented so that w·z has to drop by c >= 0.
    const double sign = c[i].item<double>() < 0 ? -1 : 1;
    const Tensor wi = w[i].to(torch::kDouble) * sign;
    const double ci = c[i].item<double>() * sign;
    const Tensor reach =
        torch::where(wi > 0, ti, torch::where(wi < 0, 1 - ti, torch::zeros_like(ti)));
    const Tensor z = ti + di;
    EXPECT_GE(z.min().item<double>(), -1e-6) << "row " << i;
    EXPECT_LE(z.max().item<double>(), 1 + 1e-6) << "row " << i;
    // Only coordinates with w != 0 move, and only towards lower w·z.
    EXPECT_TRUE(((wi == 0) <= (di == 0)).all().item<bool>()) << "row " << i;
    EXPECT_LE((wi * di).max().item<double>(), 1e-7) << "row " << i;
    const double max_drop = (wi.abs() * reach).sum().item<double>();
    if (max_drop < ci) {
      // Unreachable: the box corner that gets closest.
      EXPECT_TRUE(torch::allclose(di.abs(), reach, 1e-5, 1e-6)) << "row " << i;
      continue;
    }
    ++reachable;
    EXPECT_NEAR((wi * di).sum().item<double>(), -ci, 1e-4 * (1 + ci)) << "row " << i;
    const Tensor moved = di.abs();
    const Tensor free = (moved < reach - 1e-6) & (wi != 0);  // could still move further
    switch (norm) {
      case Norm::Linf: {
        // Optimal iff every coordinate with w != 0 moves min(λ, reach): any smaller λ drops less.
        const double lambda = moved.max().item<double>();
        EXPECT_TRUE(torch::allclose(
            torch::where(wi != 0, torch::minimum(reach, torch::full_like(reach, lambda)),
                         torch::zeros_like(reach)),
            moved, 1e-4, 1e-6))
            << "row " << i;
        break;
      }
      case Norm::L2: {
        // KKT: d = -α w on the coordinates not at a bound, with one α >= 0 for them all, and the
        // saturated ones would have moved at least as far.
        const Tensor ratio = (moved / wi.abs()).masked_select(free);
        if (ratio.numel() > 1) {
          EXPECT_NEAR(ratio.max().item<double>(), ratio.min().item<double>(),
                      1e-4 * ratio.max().item<double>() + 1e-6)
              << "row " << i;
        }
        if (ratio.numel() > 0) {
          const double alpha = ratio.mean().item<double>();
          const Tensor saturated = (~free) & (wi != 0);
          EXPECT_TRUE(((alpha * wi.abs() + 1e-5 >= reach) | ~saturated).all().item<bool>())
              << "row " << i;
        }
        break;
      }
      case Norm::L1: {
        // Exchange argument: no coordinate that moved has a smaller |w| than one that could
        // still move (otherwise moving the latter instead is cheaper).
        const Tensor used = moved > 1e-7;
        if (used.any().item<bool>() && free.any().item<bool>()) {
          const double smallest_used = wi.abs().masked_select(used).min().item<double>();
          const Tensor free_w = wi.abs().masked_select(free & ~used);
          if (free_w.numel() > 0) {
            EXPECT_GE(smallest_used, free_w.max().item<double>() * (1 - 1e-6)) << "row " << i;
          }
        }
        EXPECT_LE(((moved > 1e-7) & free).sum().item<int64_t>(), 1) << "row " << i;
        break;
      }
    }
  }
  return reachable;
}

TEST(FabProjection, StepsSatisfyTheOptimalityConditionsInTheBox) {
  auto gen = make_generator(7);
  const int64_t m = 200, d = 8;
  const Tensor t = torch::rand({m, d}, gen);
  Tensor w = torch::randn({m, d}, gen);
  w = w * (torch::rand({m, d}, gen) > 0.2).to(torch::kFloat);  // some coordinates have w = 0
  const Tensor c = torch::randn({m}, gen) * 1.5;               // some rows cannot reach
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const Tensor step = hyperplane_box_step(norm, t, w, c, 0, 1);
    const int64_t reachable = check_projection(norm, t, w, c, step);
    EXPECT_GT(reachable, m / 2) << norm_name(norm);
    EXPECT_LT(reachable, m) << norm_name(norm);
  }
}

TEST(FabProjection, WithoutTheBoxTheStepIsTheClosedFormProjection) {
  // Far from the bounds: ||d|| = |c| / ||w||_dual, and for L2 d = -c w / ||w||².
  auto gen = make_generator(8);
  const Tensor t = torch::full({50, 20}, 0.5);
  const Tensor w = torch::randn({50, 20}, gen);
  const Tensor c = torch::randn({50}, gen) * 0.01;
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const Tensor step = hyperplane_box_step(norm, t, w, c, 0, 1);
    for (int64_t i = 0; i < 50; ++i) {
      const double exact = std::abs(c[i].item<double>()) / dual_norm(norm, w[i]);
      const Tensor z = step[i].unsqueeze(0);
      EXPECT_NEAR(distance(norm, z, torch::zeros_like(z)).item<double>(), exact, 1e-5 * exact)
          << norm_name(norm) << " row " << i;
    }
    if (norm == Norm::L2) {
      const Tensor expected = -c.unsqueeze(1) * w / w.pow(2).sum(1, true);
      EXPECT_TRUE(torch::allclose(step, expected, 1e-4, 1e-7));
    }
  }
  // A general box [lo, hi] gives the same step as [0, 1] in scaled coordinates.
  const Tensor scaled = hyperplane_box_step(Norm::L1, t * 4 - 2, w, c * 4, -2, 2);
  EXPECT_TRUE(
      torch::allclose(scaled, hyperplane_box_step(Norm::L1, t, w, c, 0, 1) * 4, 1e-4, 1e-6));
}

TEST(Fab, FindsTheExactMinimalPerturbationOfAnAffineModel) {
  const auto p = problem(16, 5, 30, 1);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    Fab fab(options_for(norm, 1000, -100, 100));
    const AttackBatch batch = batch_of(p);
    const AttackResult r = fab.run(model, batch);
    ASSERT_TRUE(r.success.all().item<bool>()) << norm_name(norm);
    expect_consistent(model, batch, r, fab.options().threat);
    for (int64_t i = 0; i < 16; ++i) {
      const double exact = affine_min(norm, p, i);
      const double found = r.distance[i].item<double>();
      EXPECT_GE(found, exact * (1 - 1e-4)) << norm_name(norm) << " example " << i;
      EXPECT_LE(found, exact * 1.01) << norm_name(norm) << " example " << i;
      // One gradient forward plus one prediction per step, K - 1 gradients per step, the clean
      // and final evaluations, the final search and the confirmation before `done`.
      EXPECT_EQ(r.forward_calls[i].item<int64_t>(), 2 * 100 + 2 + 10 + 1);
      EXPECT_EQ(r.backward_calls[i].item<int64_t>(), 100 * 4);
    }
  }
}

TEST(Fab, WithoutTheFinalSearchStillLandsWithinOnePercent) {
  const auto p = problem(16, 5, 30, 2);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    FabOptions o = options_for(norm, 1000, -100, 100);
    o.final_search_steps = 0;
    const AttackResult r = Fab(o).run(model, batch_of(p));
    ASSERT_TRUE(r.success.all().item<bool>()) << norm_name(norm);
    for (int64_t i = 0; i < 16; ++i) {
      const double exact = affine_min(norm, p, i);
      EXPECT_GE(r.distance[i].item<double>(), exact * (1 - 1e-4)) << norm_name(norm);
      EXPECT_LE(r.distance[i].item<double>(), exact * 1.01) << norm_name(norm);
    }
  }
}

TEST(Fab, BelowTheMinimalDistanceNothingSucceedsAndXComesBack) {
  const auto p = problem(16, 5, 30, 3);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    double smallest = 1e300;
    for (int64_t i = 0; i < 16; ++i) smallest = std::min(smallest, affine_min(norm, p, i));
    FabOptions o = options_for(norm, 0.9 * smallest, -100, 100);
    o.restarts = 2;
    const AttackBatch batch = batch_of(p);
    const AttackResult r = Fab(o).run(model, batch);
    EXPECT_FALSE(r.success.any().item<bool>()) << norm_name(norm);
    EXPECT_TRUE(torch::equal(r.x_adv, p.x)) << norm_name(norm);
    EXPECT_TRUE(torch::equal(r.pred, p.y)) << norm_name(norm);
    expect_consistent(model, batch, r, o.threat);
  }
}

TEST(Fab, StaysInTheBoxAndTheBudgetWhenTheBoxIsActive) {
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    auto p = problem(24, 6, 49, 4);
    p.x = torch::rand({24, 1, 7, 7}, make_generator(5));
    p.x.slice(3, 0, 2).clamp_(0.3, 0.7).round_();  // some pixels start on the bounds
    p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
    const Model model = test::affine_model(p.w, p.b);
    const double eps = norm == Norm::Linf ? 0.1 : norm == Norm::L2 ? 0.5 : 2.0;
    FabOptions o = options_for(norm, eps, 0, 1);
    o.steps = 20;
    o.restarts = 2;
    const AttackBatch batch = batch_of(p);
    const AttackResult r = Fab(o).run(model, batch);
    expect_consistent(model, batch, r, o.threat);
    EXPECT_TRUE(r.success.any().item<bool>()) << norm_name(norm);
    EXPECT_FALSE(r.success.all().item<bool>()) << norm_name(norm);
    // Never better than the minimum over the whole space.
    for (int64_t i = 0; i < 24; ++i) {
      if (r.success[i].item<bool>())
        EXPECT_GE(r.distance[i].item<double>(), affine_min(norm, p, i) * (1 - 1e-4));
    }
  }
}

TEST(Fab, FabTBreaksEveryExampleThroughItsTargets) {
  const auto p = problem(12, 10, 20, 6);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  FabOptions o = options_for(Norm::L2, 1000, -100, 100);
  o.targeted = true;
  o.steps = 30;
  o.batch_targets = false;  // one target after another, so the calls count one run each
  Fab fab(o);
  EXPECT_EQ(fab.name(), "fab-t");
  const AttackBatch batch = batch_of(p);
  const AttackResult r = fab.run(model, batch);
  ASSERT_TRUE(r.success.all().item<bool>());
  EXPECT_FALSE(r.pred.eq(p.y).any().item<bool>());
  expect_consistent(model, batch, r, o.threat);
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_GE(r.distance[i].item<double>(), affine_min(Norm::L2, p, i) * (1 - 1e-4));
    // An affine model is always broken by its first target (the runner-up): one run each.
    EXPECT_EQ(r.backward_calls[i].item<int64_t>(), 30);
  }
}

TEST(Fab, FabTWithStackedTargetsEqualsRunningThemInTurn) {
  // A non-linear model: a target other than the runner-up can be the one that breaks an example.
  ZooOptions zoo;
  zoo.input_shape = {1, 4, 4};
  zoo.seed = 3;
  const Model model = Model::wrap(build_zoo_model(Architecture::Mlp, zoo), {}, "mlp");
  const torch::Tensor x = torch::rand({60, 1, 4, 4}, make_generator(4));
  const AttackBatch batch{x, model.logits(x).argmax(1), {}, torch::arange(60, torch::kLong)};
  bool later_target_mattered = false;
  for (double eps : {0.05, 0.1, 0.2, 0.4}) {
    FabOptions o = options_for(Norm::L2, eps, 0, 1);
    o.targeted = true;
    o.steps = 20;
    o.batch_targets = false;
    const AttackResult in_turn = Fab(o).run(model, batch);
    o.batch_targets = true;
    const AttackResult stacked = Fab(o).run(model, batch);
    EXPECT_TRUE(torch::equal(stacked.success, in_turn.success)) << eps;
    // Equal up to float rounding: a batch of another shape rounds the matmuls differently.
    EXPECT_LT((stacked.x_adv - in_turn.x_adv).abs().max().item<double>(), 1e-4) << eps;
    // Broken by a target after the first: its sequential run took more than one target's calls.
    later_target_mattered |=
        (in_turn.success & in_turn.backward_calls.gt(o.steps)).any().item<bool>();
  }
  EXPECT_TRUE(later_target_mattered);  // otherwise the test would not exercise the ordering
}

TEST(Fab, TargetedFabReachesTheGivenTarget) {
  const auto p = problem(12, 5, 20, 7);
  const Model model = test::affine_model(p.w, p.b, -100, 100);
  AttackBatch batch = batch_of(p);
  batch.target = (p.y + 2).remainder(5);
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const AttackResult r = Fab(options_for(norm, 1000, -100, 100)).run(model, batch);
    ASSERT_TRUE(r.success.all().item<bool>()) << norm_name(norm);
    EXPECT_TRUE(torch::equal(r.pred, batch.target)) << norm_name(norm);
    expect_consistent(model, batch, r, {norm, 1000, -100, 100});
    for (int64_t i = 0; i < 12; ++i) {
      // Reaching the target at least crosses its boundary with y.
      const double bound = affine_min(norm, p, i, batch.target[i].item<int64_t>());
      EXPECT_GE(r.distance[i].item<double>(), bound * (1 - 1e-4)) << norm_name(norm);
    }
  }
}

TEST(Fab, ExamplesGetTheSameResultInAnyBatch) {
  auto p = problem(10, 6, 49, 8);
  p.x = torch::rand({10, 1, 7, 7}, make_generator(9));
  p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
  const Model model = test::affine_model(p.w, p.b);
  FabOptions o = options_for(Norm::Linf, 0.05, 0, 1);
  o.steps = 10;
  o.restarts = 3;
  o.seed = 3;
  const AttackBatch batch = batch_of(p);
  const AttackResult all = Fab(o).run(model, batch);
  const Tensor rows = torch::arange(1, 10, 2, torch::kLong);
  const AttackResult some = Fab(o).run(model, select_examples(batch, rows));
  EXPECT_TRUE(torch::allclose(some.x_adv, all.x_adv.index_select(0, rows), 0, 1e-5));
  EXPECT_TRUE(torch::equal(some.success, all.success.index_select(0, rows)));
}

TEST(Fab, RejectsBadOptions) {
  FabOptions o = options_for(Norm::L2, 0.5, 0, 1);
  o.steps = 0;
  EXPECT_THROW(Fab{o}, Error);
  EXPECT_THROW(Fab{options_for(Norm::L2, -0.1, 0, 1)}, Error);
  o = options_for(Norm::Linf, 0.1, 0, 1);
  o.restarts = 0;
  EXPECT_THROW(Fab{o}, Error);
  o = options_for(Norm::Linf, 0.1, 0, 1);
  o.beta = 0;
  EXPECT_THROW(Fab{o}, Error);
  try {
    Fab{options_for(Norm::L1, -1, 0, 1)};
    ADD_FAILURE() << "a negative eps was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--eps"), std::string::npos);
  }
  const nlohmann::json j = Fab(options_for(Norm::L1, 2, 0, 1)).parameters();
  EXPECT_EQ(j["attack"], "fab");
  EXPECT_EQ(j["steps"], 100);
  EXPECT_DOUBLE_EQ(j["eta"].get<double>(), 1.05);
}

}  // namespace
}  // namespace advtk
