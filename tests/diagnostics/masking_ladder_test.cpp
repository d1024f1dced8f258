// The masking check's pieces that decide what runs: distinct random starts per run, the ladder's
// rungs and the reasons it skips some, the transfer attack's full ascent, and the log of breaks
// that feeds the audit's worst case.
#include "diagnostics/masking_ladder.h"

#include <gtest/gtest.h>

#include "attacks/apgd.h"
#include "attacks/attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "diagnostics/masking_indicators.h"

namespace advtk {
namespace {

// A model whose logits ignore the input: every gradient is zero, so an attack returns its start.
Model constant_model(int64_t d) {
  return test::affine_model(torch::zeros({4, d}), torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}));
}

AttackBatch one_example(int64_t d) {
  return {torch::full({1, 1, 1, d}, 0.5f),
          torch::zeros({1}, torch::kLong),
          {},
          torch::zeros({1}, torch::kLong)};
}

torch::Tensor start_of(Attack& attack, int64_t d) {
  const AttackBatch b = one_example(d);
  return (attack.run(constant_model(d), b).x_adv - b.x).flatten();
}

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return (a * b).sum().item<double>() / (a.norm() * b.norm()).item<double>();
}

MaskingOptions linf_options() {
  MaskingOptions o;
  o.threat = {Norm::Linf, 0.1};
  o.pgd_steps = 1;
  o.apgd_steps = 1;
  o.seed = 3;
  return o;
}

TEST(MaskingStarts, PgdAndApgdDrawDifferentStartsFromOneSeed) {
  // They shared stream 0: APGD's start was PGD's uniform draw rescaled to the sphere (cosine 1).
  const int64_t d = 400;
  IterativeAttackOptions p;
  p.threat = {Norm::Linf, 0.1};
  p.steps = 1;
  p.seed = 3;
  ApgdOptions a;
  a.threat = p.threat;
  a.steps = 1;
  a.seed = 3;
  auto pgd = make_pgd(p);
  Apgd apgd(a);
  const torch::Tensor s1 = start_of(*pgd, d), s2 = start_of(apgd, d);
  ASSERT_GT(s1.norm().item<double>(), 0);
  ASSERT_GT(s2.norm().item<double>(), 0);
  EXPECT_LT(std::abs(cosine(s1, s2)), 0.2);
}

TEST(MaskingStarts, MoreRestartsAndLongerRunsDoNotRepeatTheBaselinesStart) {
  const int64_t d = 400;
  const MaskingOptions o = linf_options();
  const torch::Tensor baseline = start_of(*masking_pgd(o, 0.1, LossKind::CrossEntropy, 1, 1, 1), d);
  for (const uint64_t salt : {kSaltLonger, kSaltRestarts, kSaltLadderRestarts, kSaltMarginRetry}) {
    // One restart of the salted run: its first start is the one a repeat would share.
    const torch::Tensor other =
        start_of(*masking_pgd(o, 0.1, LossKind::CrossEntropy, 1, 1, 1, salt), d);
    EXPECT_LT(std::abs(cosine(baseline, other)), 0.2) << "salt " << salt;
  }
}

TEST(MaskingLadder, ZeroGradientsSkipTheGradientRungsWithTheReason) {
  const Model model = constant_model(16);
  LadderFacts f;
  f.classes = 10;
  f.gradient_trouble = true;
  f.zero_gradient_fraction = 1.0;
  const Ladder ladder = build_ladder(model, linf_options(), f);
  std::vector<std::string> ran, skipped;
  for (const Rung& r : ladder.rungs) ran.push_back(r.step);
  for (const SkippedRung& s : ladder.skipped) {
    skipped.push_back(s.step);
    EXPECT_NE(s.reason.find("zero"), std::string::npos) << s.attack;
  }
  // Gradient-free or smoothed rungs run; the plain-gradient ones (R1, R5) do not.
  EXPECT_EQ(ran, (std::vector<std::string>{"R4", "R6"}));
  EXPECT_EQ(skipped, (std::vector<std::string>{"R1", "R1", "R1", "R5"}));
  // With working gradients every rung runs.
  f.zero_gradient_fraction = 0.0;
  EXPECT_EQ(build_ladder(model, linf_options(), f).rungs.size(), 6u);
}

TEST(MaskingLadder, FewClassesSkipTheLossesThatNeedMoreWithTheReason) {
  const Model model = constant_model(16);
  LadderFacts f;
  f.classes = 3;
  Ladder ladder = build_ladder(model, linf_options(), f);
  ASSERT_EQ(ladder.skipped.size(), 1u);
  EXPECT_EQ(ladder.skipped[0].attack, "apgd-t");
  EXPECT_NE(ladder.skipped[0].reason.find("4 classes"), std::string::npos);
  f.classes = 2;
  ladder = build_ladder(model, linf_options(), f);
  ASSERT_EQ(ladder.skipped.size(), 2u);
  for (const Rung& r : ladder.rungs) EXPECT_EQ(r.attack.find("dlr"), std::string::npos);
}

TEST(MaskingLadder, ExplodingGradientsAddAFinerSmoothedRung) {
  const Model model = constant_model(16);
  LadderFacts f;
  f.classes = 10;
  f.exploding = true;
  int smoothed = 0;
  for (const Rung& r : build_ladder(model, linf_options(), f).rungs)
    smoothed += r.step == "R4" ? 1 : 0;
  EXPECT_EQ(smoothed, 2);
}

TEST(MaskingTransfer, TheSurrogatesLossRisesForEveryStep) {
  // Early stopping would return the first iterate across the surrogate's boundary; the transfer
  // attack goes on to the end, so its point lies at the far corner of the ball (an affine model's
  // loss is maximised at a vertex) and fools the surrogate by a wide margin.
  const test::AffineProblem p = test::problem(8, 3, 20, 4);
  const Model surrogate = test::affine_model(p.w, p.b, -100, 100);
  MaskingOptions o;
  o.threat = {Norm::Linf, 2.0, -100, 100};
  o.pgd_steps = 40;
  const AttackBatch b = test::batch_of(p);
  const AttackResult far = masking_transfer_pgd(o, 2.0)->run(surrogate, b);
  const AttackResult near = masking_pgd(o, 2.0, LossKind::CrossEntropy, 40)->run(surrogate, b);
  const auto loss = [&](const torch::Tensor& x) {
    return attack_loss({LossKind::CrossEntropy}, surrogate.logits(x), p.y, {});
  };
  const torch::Tensor lf = loss(far.x_adv), ln = loss(near.x_adv);
  EXPECT_TRUE(lf.ge(ln - 1e-5).all().item<bool>());
  EXPECT_GT((lf - ln).max().item<double>(), 0.1);
  EXPECT_NEAR(distance(Norm::Linf, far.x_adv, p.x).min().item<double>(), 2.0, 1e-4);
}

TEST(MaskingBreakLog, KeepsEveryBreakByIdAndTheFirstPointFound) {
  Dataset points;
  points.images = torch::zeros({4, 1, 1, 2});
  points.labels = torch::zeros({4}, torch::kLong);
  points.ids = torch::tensor({10, 3, 7, 20}, torch::kLong);
  BreakLog log(points);
  // Two of the points (ids 7 and 3, in that order), both broken.
  Dataset some = points;
  some.ids = torch::tensor({7, 3}, torch::kLong);
  some.images = torch::zeros({2, 1, 1, 2});
  some.labels = torch::zeros({2}, torch::kLong);
  log.add(some, torch::tensor({true, true}), torch::full({2, 1, 1, 2}, 1.0f));
  // Later: id 7 again with another point (not kept), id 20 new.
  some.ids = torch::tensor({7, 20}, torch::kLong);
  log.add(some, torch::tensor({true, true}), torch::full({2, 1, 1, 2}, 2.0f));
  EXPECT_TRUE(log.broken().equal(torch::tensor({false, true, true, true})));
  EXPECT_EQ(log.x_adv()[2].max().item<float>(), 1.0f);
  EXPECT_EQ(log.x_adv()[3].max().item<float>(), 2.0f);
  EXPECT_EQ(log.x_adv()[0].max().item<float>(), 0.0f);
}

}  // namespace
}  // namespace advtk
