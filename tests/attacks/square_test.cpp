// Square Attack: its schedule and window shape against the paper's numbers, and its results
// against affine classifiers, whose distances to the decision boundary are known in closed form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "attack_test_util.h"
#include "attacks/registry.h"
#include "attacks/square.h"
#include "core/error.h"
#include "trained_cnn.h"

namespace advtk {
namespace {

using test::attack;
using test::robust_accuracy;
using test::trained_cnn;
using test::with_norm;

struct Problem {
  torch::Tensor w, b, x, y;
};

// K classes over C×H×W images with pixels in [0.4, 0.6] and decision boundaries near the middle
// of [0, 1], so a perturbation of at most 0.4 per pixel never meets the box.
Problem middle_problem(int64_t n, int64_t k, std::vector<int64_t> image, uint64_t seed) {
  auto gen = make_generator(seed);
  int64_t d = 1;
  for (int64_t s : image) d *= s;
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), image.begin(), image.end());
  Problem p;
  p.w = torch::randn({k, d}, gen) * 0.5;
  p.b = -torch::mv(p.w, torch::full({d}, 0.5f)) + torch::randn({k}, gen);
  p.x = (0.5 + 0.05 * torch::randn(shape, gen)).clamp(0.4, 0.6);
  p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
  return p;
}

AttackBatch batch_of(const Problem& p) {
  return {p.x, p.y, {}, torch::arange(p.x.size(0), torch::kLong)};
}

// The exact minimal distance from x [D] to where class y stops winning, in `norm` (Linf: the
// dual norm of the logit difference is L1).
double affine_min_distance(Norm norm, const Problem& p, int64_t i) {
  const torch::Tensor x = p.x[i].flatten();
  const int64_t y = p.y[i].item<int64_t>();
  const torch::Tensor z = torch::mv(p.w, x) + p.b;
  double best = 1e300;
  for (int64_t j = 0; j < p.w.size(0); ++j) {
    if (j == y) continue;
    const torch::Tensor dw = p.w[y] - p.w[j];
    const double dual = norm == Norm::Linf ? dw.abs().sum().item<double>()
                        : norm == Norm::L2 ? dw.norm().item<double>()
                                           : dw.abs().max().item<double>();
    best = std::min(best, (z[y] - z[j]).item<double>() / dual);
  }
  return best;
}

TEST(SquareSchedule, HalvesPAtTheReferenceBreakpoints) {
  // 5000 queries: query q is query 2q of the 10,000-query schedule.
  const double p = 0.8;
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 0, 5000), 0.8);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 5, 5000), 0.8);           // 10: not past 10
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 6, 5000), 0.4);           // 12
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 10, 5000), 0.4);          // 20
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 25, 5000), 0.4);          // 50
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 26, 5000), 0.2);          // 52
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 50, 5000), 0.2);          // 100
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 101, 5000), 0.1);         // 202
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 251, 5000), 0.05);        // 502
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 2500, 5000), 0.8 / 128);  // 5000
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 4999, 5000), 0.8 / 512);  // 9998
  // 10,000 queries: the schedule as published.
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 8000, 10000), 0.8 / 256);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 8001, 10000), 0.8 / 512);
  // 100 queries: query q is query 100q.
  EXPECT_DOUBLE_EQ(square_p_schedule(0.5, 1, 100), 0.125);       // 100
  EXPECT_DOUBLE_EQ(square_p_schedule(0.5, 99, 100), 0.5 / 512);  // 9900
}

TEST(SquareSchedule, AutoAttackUsesTheRawQueryCount) {
  // AutoAttack's Square (resc_schedule=False): p halves after 10, 50, ..., 4000 queries of 5000.
  const double p = 0.8;
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 10, 5000, false), 0.8);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 11, 5000, false), 0.4);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 201, 5000, false), 0.1);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 4000, 5000, false), 0.8 / 64);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 4001, 5000, false), 0.8 / 128);
  EXPECT_DOUBLE_EQ(square_p_schedule(p, 4999, 5000, false), 0.8 / 128);
  AttackSetup c;
  c.threat.eps = 0.1;
  EXPECT_TRUE(make_attack("square", c, {})->parameters()["rescale_schedule"].get<bool>());
  for (const std::string preset : {"autoattack", "autoattack-plus"}) {
    const nlohmann::json attacks = make_attack(preset, c, {})->parameters()["attacks"];
    int squares = 0;
    for (const auto& a : attacks) {
      if (a["attack"] != "square") continue;
      ++squares;
      EXPECT_FALSE(a["rescale_schedule"].get<bool>()) << preset;
      EXPECT_EQ(a["queries"].get<int64_t>(), 5000) << preset;
    }
    EXPECT_EQ(squares, 1) << preset;
  }
  // L1 as in AutoAttack's standard version: APGD-CE, APGD-T, FAB-T, Square.
  c.threat.norm = Norm::L1;
  c.threat.eps = 5;
  const nlohmann::json l1 = make_attack("autoattack", c, {})->parameters()["attacks"];
  ASSERT_EQ(l1.size(), 4u);
  EXPECT_EQ(l1[3]["attack"], "square");
  EXPECT_EQ(l1[3]["norm"], "l1");
}

TEST(SquareWindow, ThreeByThreeMatchesTheRectanglesByHand) {
  // Top row: rectangles of 1×3 — centre 1 + 1/4, ring 1/4; bottom rows: rectangles of 2×3 —
  // centre (1, 1) 1 + 1/4, the rest 1/4; each half unit norm, then the whole unit norm.
  const double top = std::sqrt(2 * 0.0625 + 1.5625), bottom = std::sqrt(5 * 0.0625 + 1.5625);
  const double r2 = std::sqrt(2.0);
  const torch::Tensor expected =
      torch::tensor({0.25 / top, 1.25 / top, 0.25 / top, -0.25 / bottom, -0.25 / bottom,
                     -0.25 / bottom, -0.25 / bottom, -1.25 / bottom, -0.25 / bottom},
                    torch::kDouble)
          .view({3, 3}) /
      r2;
  EXPECT_TRUE(torch::allclose(square_l2_window(3).to(torch::kDouble), expected, 1e-6, 1e-7));
  for (int64_t s = 1; s <= 9; ++s) {
    const torch::Tensor eta = square_l2_window(s);
    EXPECT_NEAR(eta.square().sum().item<double>(), 1.0, 1e-5) << s;
    EXPECT_TRUE(eta.narrow(0, 0, s / 2).gt(0).all().item<bool>()) << s;
    EXPECT_TRUE(eta.narrow(0, s / 2, s - s / 2).lt(0).all().item<bool>()) << s;
  }
}

TEST(SquareWindow, L2MassKeepsTheColourPerturbationOutsideTheWindows) {
  // A colour perturbation on the sphere (‖δ‖ = ε) whose windows hold different mass per channel:
  // the new window's channels together get exactly the windows' mass (nothing unspent), so the
  // moved perturbation still has norm ε and the final rescaling leaves the rest of δ as it was.
  // Summing every channel's window mass into each channel (AutoAttack's port) gives 3× here.
  auto gen = make_generator(5);
  const torch::Tensor delta =
      torch::randn({2, 3, 8, 8}, gen) * torch::tensor({1.0, 2.0, 0.5}).view({1, 3, 1, 1});
  const double eps = 2.0;
  const torch::Tensor on_sphere = delta / delta.square().sum({1, 2, 3}, true).sqrt() * eps;
  torch::Tensor windows = torch::zeros({2, 1, 8, 8});
  windows.narrow(2, 1, 3).narrow(3, 2, 3).fill_(1);
  windows.narrow(2, 4, 3).narrow(3, 4, 3).fill_(1);
  const torch::Tensor mass = square_window_mass(Norm::L2, on_sphere, windows, eps);
  ASSERT_EQ(mass.sizes(), (std::vector<int64_t>{2, 3, 1, 1}));
  const torch::Tensor in = (on_sphere * windows).square().sum({2, 3}, true).sqrt();
  EXPECT_TRUE(torch::allclose(mass, in, 1e-5, 1e-6));
  const torch::Tensor outside = (on_sphere * (1 - windows)).square().sum({1, 2, 3});
  const torch::Tensor total = outside + mass.square().sum({1, 2, 3});
  EXPECT_TRUE(torch::allclose(total, torch::full({2}, eps * eps), 1e-4, 1e-5));
  // Inside the ball the unspent budget is shared equally between the channels.
  const torch::Tensor half = on_sphere / 2;
  const torch::Tensor inner = square_window_mass(Norm::L2, half, windows, eps).square();
  const torch::Tensor share = (eps * eps - half.square().sum({1, 2, 3}, true)) / 3;
  EXPECT_TRUE(
      torch::allclose(inner, share + (half * windows).square().sum({2, 3}, true), 1e-4, 1e-5));
}

TEST(SquareWindow, L1ThreeByThreeMatchesTheRectanglesByHand) {
  // Ring weights 1/(k+1)^4: top row 1/16, 1 + 1/16, 1/16 (L1 1.1875); bottom rows 1/16 everywhere
  // but the centre (1, 1), 1 + 1/16 (L1 1.375); each half L1 1, then the whole L1 1 (÷ 2).
  const double top = 1.1875, bottom = 1.375, g = 0.0625;
  const torch::Tensor expected =
      torch::tensor({g / top, (1 + g) / top, g / top, -g / bottom, -g / bottom, -g / bottom,
                     -g / bottom, -(1 + g) / bottom, -g / bottom},
                    torch::kDouble)
          .view({3, 3}) /
      2;
  EXPECT_TRUE(torch::allclose(square_l1_window(3).to(torch::kDouble), expected, 1e-6, 1e-7));
  for (int64_t s = 2; s <= 9; ++s)
    EXPECT_NEAR(square_l1_window(s).abs().sum().item<double>(), 1.0, 1e-5) << s;
}

// Runs Square on example i alone with eps = factor × its exact minimal distance.
AttackResult attack_at(const Problem& p, int64_t i, Norm norm, double factor, int64_t queries,
                       double* eps_out) {
  const double eps = factor * affine_min_distance(norm, p, i);
  *eps_out = eps;
  const Model model = test::affine_model(p.w, p.b);
  SquareOptions o;
  o.threat = {norm, eps, 0, 1};
  o.queries = queries;
  o.seed = 7;
  const torch::Tensor row = torch::tensor({i}, torch::kLong);
  return SquareAttack(o).run(model, select_examples(batch_of(p), row));
}

void check_closed_form(Norm norm, std::vector<int64_t> image) {
  const Problem p = middle_problem(8, 4, image, norm == Norm::Linf ? 1 : 2);
  for (int64_t i = 0; i < p.x.size(0); ++i) {
    double eps = 0;
    const AttackResult above = attack_at(p, i, norm, 1.5, 1000, &eps);
    ASSERT_LT(eps, 0.4) << "the box would be active";
    EXPECT_TRUE(above.success.item<bool>()) << norm_name(norm) << " example " << i;
    EXPECT_LE(above.distance.item<double>(), eps * (1 + 1e-5));
    const AttackResult below = attack_at(p, i, norm, 0.9, 200, &eps);
    EXPECT_FALSE(below.success.item<bool>()) << norm_name(norm) << " example " << i;
    EXPECT_EQ(below.forward_calls.item<int64_t>(), 201);
  }
}

TEST(SquareAffine, LinfBreaksAboveTheMinimalDistanceAndNeverBelow) {
  check_closed_form(Norm::Linf, {1, 8, 8});
}

TEST(SquareAffine, L2BreaksAboveTheMinimalDistanceAndNeverBelow) {
  check_closed_form(Norm::L2, {1, 8, 8});
}

TEST(SquareAffine, StaysInTheBallAndTheBoxAndReportsHonestly) {
  const std::vector<std::vector<int64_t>> shapes = {{1, 8, 8}, {3, 6, 9}, {2, 4, 4}};
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    for (uint64_t seed = 0; seed < 3; ++seed) {
      const auto& shape = shapes[seed];
      Problem p = middle_problem(16, 5, shape, 20 + seed);
      p.x = torch::rand(p.x.sizes(), make_generator(seed));  // the box is active
      p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);
      const Model model = test::affine_model(p.w, p.b);
      SquareOptions o;
      o.threat = {norm, norm == Norm::Linf ? 0.03 : norm == Norm::L2 ? 0.3 : 3.0, 0, 1};
      o.queries = 100;
      o.restarts = 2;
      o.seed = seed;
      const AttackResult r = SquareAttack(o).run(model, batch_of(p));
      const std::string what = norm_name(norm) + " seed " + std::to_string(seed);
      EXPECT_TRUE(r.backward_calls.eq(0).all().item<bool>()) << what;
      EXPECT_TRUE(r.forward_calls.ge(1).all().item<bool>()) << what;
      EXPECT_TRUE(r.forward_calls.le(o.restarts * (o.queries + 1)).all().item<bool>()) << what;
      // An example never fooled spends every query of every restart.
      EXPECT_TRUE(torch::equal(r.forward_calls.masked_select(~r.success),
                               torch::full({(~r.success).sum().item<int64_t>()},
                                           o.restarts * (o.queries + 1), torch::kLong)))
          << what;
      EXPECT_LE(distance(norm, r.x_adv, p.x).max().item<double>(), o.threat.eps * (1 + 1e-5))
          << what;
      EXPECT_TRUE(torch::allclose(r.distance, distance(norm, r.x_adv, p.x))) << what;
      EXPECT_GE(r.x_adv.min().item<double>(), 0.0) << what;
      EXPECT_LE(r.x_adv.max().item<double>(), 1.0) << what;
      const torch::Tensor pred = model.logits(r.x_adv).argmax(1);
      EXPECT_TRUE(torch::equal(r.pred, pred)) << what;
      EXPECT_TRUE(torch::equal(r.success, pred.ne(p.y))) << what;
      EXPECT_GT(r.success.sum().item<int64_t>(), 0) << what;
    }
  }
}

TEST(SquareAffine, WindowsReachTheLastRowAndColumn) {
  // Only the bottom-right pixel matters: class 1 wins once it exceeds 0.52. The start gives it
  // +eps or -eps at random; where it got -eps, only a window covering it can break the example
  // (the reference's window positions never cover the last row or column).
  torch::Tensor w = torch::zeros({2, 64});
  w[1][63] = 1;
  const torch::Tensor b = torch::tensor({0.0f, -0.52f});
  const Problem p{w, b, torch::full({16, 1, 8, 8}, 0.5f), torch::zeros({16}, torch::kLong)};
  SquareOptions o;
  o.threat = {Norm::Linf, 0.03, 0, 1};
  o.queries = 1000;
  const AttackResult r = SquareAttack(o).run(test::affine_model(w, b), batch_of(p));
  EXPECT_TRUE(r.success.all().item<bool>());
  EXPECT_GT(r.forward_calls.gt(1).sum().item<int64_t>(), 0);  // some started on the wrong side
}

TEST(SquareAffine, ZeroBudgetEvaluatesXOnce) {
  const Problem p = middle_problem(4, 3, {1, 8, 8}, 5);
  SquareOptions o;
  o.threat = {Norm::Linf, 0.0, 0, 1};
  const AttackResult r = SquareAttack(o).run(test::affine_model(p.w, p.b), batch_of(p));
  EXPECT_TRUE(torch::equal(r.x_adv, p.x));
  EXPECT_TRUE(torch::equal(r.forward_calls, torch::ones({4}, torch::kLong)));
  EXPECT_FALSE(r.success.any().item<bool>());
}

TEST(SquareAffine, ResultsDependOnlyOnSeedAndExampleNotOnBatching) {
  for (Norm norm : {Norm::Linf, Norm::L2}) {
    // Three channels for Linf; one for L2, whose windows align slowly with the unstructured
    // weights of this model when there are several channels.
    const Problem p = middle_problem(6, 4, {norm == Norm::Linf ? 3 : 1, 8, 8}, 6);
    const Model model = test::affine_model(p.w, p.b);
    // A budget just below the distance of the farthest example: it survives and runs every
    // query, while the nearer ones can be broken.
    std::vector<double> d;
    for (int64_t i = 0; i < 6; ++i) d.push_back(affine_min_distance(norm, p, i));
    std::sort(d.begin(), d.end());
    SquareOptions o;
    o.threat = {norm, 0.999 * d[5], 0, 1};
    o.queries = 300;
    o.seed = 3;
    SquareAttack attack(o);
    const AttackBatch all = batch_of(p);
    const AttackResult once = attack.run(model, all);
    const AttackResult again = attack.run(model, all);
    EXPECT_TRUE(torch::equal(once.x_adv, again.x_adv));
    EXPECT_TRUE(torch::equal(once.forward_calls, again.forward_calls));
    const auto opts = torch::TensorOptions().dtype(torch::kLong);
    const AttackResult first = attack.run(model, select_examples(all, torch::arange(0, 3, opts)));
    const AttackResult second = attack.run(model, select_examples(all, torch::arange(3, 6, opts)));
    const std::string what = norm_name(norm);
    EXPECT_TRUE(torch::allclose(once.x_adv, torch::cat({first.x_adv, second.x_adv}), 0, 1e-6))
        << what;
    EXPECT_TRUE(torch::equal(once.success, torch::cat({first.success, second.success}))) << what;
    EXPECT_TRUE(
        torch::equal(once.forward_calls, torch::cat({first.forward_calls, second.forward_calls})))
        << what;
    const int64_t fooled = once.success.sum().item<int64_t>();
    EXPECT_GT(fooled, 0) << what;
    EXPECT_LT(fooled, 6) << what;
    // A different seed draws different windows.
    o.seed = 4;
    EXPECT_FALSE(torch::equal(SquareAttack(o).run(model, all).x_adv, once.x_adv)) << what;
  }
}

TEST(SquareAffine, TargetedReachesTheTarget) {
  for (Norm norm : {Norm::Linf, Norm::L2, Norm::L1}) {
    const Problem p = middle_problem(8, 5, {1, 8, 8}, 8);
    const Model model = test::affine_model(p.w, p.b);
    AttackBatch b = batch_of(p);
    b.target = (p.y + 2).remainder(5);
    SquareOptions o;
    o.threat = {norm, norm == Norm::Linf ? 0.3 : norm == Norm::L2 ? 3.0 : 20.0, 0, 1};
    o.queries = 1000;
    const AttackResult r = SquareAttack(o).run(model, b);
    EXPECT_TRUE(r.success.all().item<bool>()) << norm_name(norm);
    EXPECT_TRUE(torch::equal(r.pred, b.target)) << norm_name(norm);
    EXPECT_TRUE(torch::equal(model.logits(r.x_adv).argmax(1), b.target)) << norm_name(norm);
  }
}

TEST(SquareOptionsCheck, BadOptionsThrow) {
  const auto make = [](auto edit) {
    SquareOptions o;
    o.threat = {Norm::Linf, 0.1, 0, 1};
    edit(o);
    return SquareAttack(o);
  };
  EXPECT_THROW(make([](SquareOptions& o) { o.queries = 0; }), Error);
  EXPECT_THROW(make([](SquareOptions& o) { o.p_init = 0; }), Error);
  EXPECT_THROW(make([](SquareOptions& o) { o.p_init = 1.5; }), Error);
  EXPECT_THROW(make([](SquareOptions& o) { o.threat.eps = -0.1; }), Error);
  EXPECT_THROW(make([](SquareOptions& o) { o.restarts = 0; }), Error);
  EXPECT_NO_THROW(make([](SquareOptions& o) { o.p_init = 1; }));
  SquareAttack attack = make([](SquareOptions&) {});
  EXPECT_EQ(attack.name(), "square");
  EXPECT_FALSE(attack.minimum_norm());
  const nlohmann::json j = attack.parameters();
  for (const char* key : {"norm", "eps", "queries", "p_init", "restarts", "seed"})
    EXPECT_TRUE(j.contains(key)) << key;
  // Not an image batch.
  const torch::Tensor w = torch::randn({3, 8});
  const AttackBatch flat{
      torch::rand({2, 8}), torch::zeros({2}, torch::kLong), {}, torch::arange(2, torch::kLong)};
  EXPECT_THROW(attack.run(test::affine_model(w, torch::zeros({3})), flat), Error);
}

class SquareOnTheCnn : public test::CnnTest {};

TEST_F(SquareOnTheCnn, SquareBreaksTheCnnWithoutAGradient) {
  const OptionValues c = OptionValues().set("queries", int64_t{1000});
  const AttackRun run = attack("square", {0.15}, c, {}, 60)[0];
  const double clean = run.clean_pred.eq(run.y).to(torch::kDouble).mean().item<double>();
  EXPECT_LT(robust_accuracy(run), 0.5 * clean);
  EXPECT_EQ(run.backward_calls.sum().item<int64_t>(), 0);
  EXPECT_GT(run.forward_calls.sum().item<int64_t>(), 60);
  // L1 (AutoAttack's L1 Square, a weaker search than APGD there too): also without a
  // gradient, and within the L1 budget.
  const AttackRun l1 = attack("square", {10.0}, c, {}, 60, trained_cnn(), with_norm(Norm::L1))[0];
  EXPECT_LT(robust_accuracy(l1), 0.8 * clean);
  EXPECT_EQ(l1.backward_calls.sum().item<int64_t>(), 0);
  EXPECT_LE(distance(Norm::L1, l1.x_adv, l1.x).max().item<double>(), 10.0 * (1 + 1e-5));
}

}  // namespace
}  // namespace advtk
