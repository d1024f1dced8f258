// Attacks on a zoo CNN trained on Fashion-MNIST: properties any honest attack must have.
#include <gtest/gtest.h>

#include "attacks/attack_runner.h"
#include "attacks/registry.h"
#include "data/data_source.h"
#include "models/zoo.h"
#include "test_util.h"
#include "training/trainer.h"

namespace advtk {
namespace {

using test::fashion;

// Trained once for the whole suite (2,000 images, 2 epochs: about 85% clean accuracy).
Model& trained_cnn() {
  static Model model = [] {
    ZooOptions z;
    Model m = Model::wrap(build_zoo_model(Architecture::Cnn, z), {}, "cnn");
    TrainOptions o;
    o.epochs = 2;
    o.batch_size = 32;
    CrossEntropyObjective objective;
    train(m, fashion(Split::Train, 2000), nullptr, objective, o);
    return m;
  }();
  return model;
}

// `name` at each budget (a list "a,b" or a preset too), with options `c`, norm and seed in `s`.
std::vector<AttackRun> attack(const std::string& name, std::vector<double> budgets,
                              OptionValues c = {}, AttackRunOptions r = {}, int64_t examples = 200,
                              const Model& model = trained_cnn(), AttackSetup s = {}) {
  return run_attack(
      model, fashion(Split::Test, examples),
      [&](double eps) {
        s.threat.eps = eps;
        return make_attack(name, s, c);
      },
      budgets, r);
}

AttackSetup with_norm(Norm norm, uint64_t seed = 0) {
  AttackSetup s;
  s.threat.norm = norm;
  s.seed = seed;
  return s;
}

double robust_accuracy(const AttackRun& run) {
  return (run.clean_pred.eq(run.y) & ~run.success).to(torch::kDouble).mean().item<double>();
}

class CnnAttacks : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
};

TEST_F(CnnAttacks, RobustAccuracyStartsAtCleanAndFallsWithTheBudget) {
  const auto runs = attack("pgd", {0.0, 0.02, 0.05, 0.1});
  const double clean = runs[0].clean_pred.eq(runs[0].y).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(clean, 0.7);
  EXPECT_DOUBLE_EQ(robust_accuracy(runs[0]), clean);
  for (size_t i = 1; i < runs.size(); ++i)
    EXPECT_LE(robust_accuracy(runs[i]), robust_accuracy(runs[i - 1]));
  EXPECT_LT(robust_accuracy(runs.back()), 0.5 * clean);
}

TEST_F(CnnAttacks, Pgd40IsAtLeastAsStrongAsFgsm) {
  const double fgsm = robust_accuracy(attack("fgsm", {0.1})[0]);
  const OptionValues c = OptionValues().set("steps", int64_t{40}).set("step-size", 0.01);
  const double pgd = robust_accuracy(attack("pgd", {0.1}, c)[0]);
  EXPECT_LE(pgd, fgsm);
}

TEST_F(CnnAttacks, SameSeedSameResultAndBatchingDoesNotMatter) {
  const OptionValues c = OptionValues().set("steps", int64_t{10});
  const AttackSetup seeded = with_norm(Norm::Linf, 5);
  AttackRunOptions big, small;
  big.batch_size = 200;
  small.batch_size = 37;
  const auto a = attack("pgd", {0.05}, c, big, 200, trained_cnn(), seeded)[0];
  const auto b = attack("pgd", {0.05}, c, big, 200, trained_cnn(), seeded)[0];
  const auto s = attack("pgd", {0.05}, c, small, 200, trained_cnn(), seeded)[0];
  EXPECT_TRUE(torch::equal(a.x_adv, b.x_adv));
  EXPECT_TRUE(torch::equal(a.success, s.success));
  EXPECT_TRUE(torch::allclose(a.x_adv, s.x_adv, 1e-5, 1e-5));
}

TEST_F(CnnAttacks, EarlyStoppingSavesWorkWithoutChangingRobustAccuracy) {
  const OptionValues c = OptionValues().set("steps", int64_t{20});
  AttackRunOptions stop, full;
  full.skip_misclassified = false;
  OptionValues no_stop = c;
  no_stop.set("early-stop", false);
  const auto fast = attack("pgd", {0.05}, c, stop)[0];
  const auto slow = attack("pgd", {0.05}, no_stop, full)[0];
  EXPECT_TRUE(torch::equal(fast.success | fast.clean_pred.ne(fast.y),
                           slow.success | slow.clean_pred.ne(slow.y)));
  EXPECT_LT(fast.backward_calls.sum().item<int64_t>(), slow.backward_calls.sum().item<int64_t>());
  EXPECT_EQ(slow.backward_calls.sum().item<int64_t>(), 200 * 20);
}

TEST_F(CnnAttacks, MinimumNormAttacksBreakAlmostEveryCorrectExample) {
  for (const auto& [name, at_least] :
       {std::pair<const char*, double>{"deepfool", 0.97}, {"cw", 0.97}}) {
    const auto run = attack(name, {0.0}, {}, {}, 60, trained_cnn(), with_norm(Norm::L2))[0];
    const torch::Tensor correct = run.clean_pred.eq(run.y);
    const double broken =
        (run.success & correct).sum().item<double>() / correct.sum().item<double>();
    EXPECT_GE(broken, at_least) << name;
    // What they report is what the model does: the prediction at x_adv.
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(trained_cnn().logits(run.x_adv).argmax(1), run.pred_adv)) << name;
  }
}

TEST_F(CnnAttacks, ApgdIsAtLeastAsStrongAsPgd) {
  const OptionValues pgd = OptionValues().set("steps", int64_t{40}).set("step-size", 0.01);
  const double apgd = robust_accuracy(attack("apgd", {0.05})[0]);
  EXPECT_LE(apgd, robust_accuracy(attack("pgd", {0.05}, pgd)[0]) + 0.01);
}

TEST_F(CnnAttacks, AnEnsembleIsAtMostEachOfItsAttacks) {
  // Shortened budgets: the property, not the strength, is under test.
  const OptionValues c = OptionValues()
                             .set("steps", int64_t{20})
                             .set("target-classes", int64_t{3})
                             .set("queries", int64_t{300});
  const std::vector<std::string> names = {"apgd", "apgd-t", "fab-t", "square"};
  const AttackRun suite = attack("apgd,apgd-t,fab-t,square", {0.05}, c, {}, 60)[0];
  const torch::Tensor robust = suite.clean_pred.eq(suite.y) & ~suite.success;
  for (size_t k = 0; k < names.size(); ++k) {
    const AttackRun alone = attack(names[k], {0.05}, c, {}, 60)[0];
    EXPECT_LE(robust_accuracy(suite), robust_accuracy(alone)) << names[k];
    // Per-example worst case: robust in the suite means robust against each attack alone.
    EXPECT_FALSE((robust & alone.success).any().item<bool>()) << names[k];
  }
  EXPECT_TRUE(torch::equal(suite.broken_by.ge(0), suite.success & suite.clean_pred.eq(suite.y)));
  EXPECT_TRUE(torch::equal(trained_cnn().logits(suite.x_adv).argmax(1), suite.pred_adv));
  EXPECT_LE(distance(Norm::Linf, suite.x_adv, suite.x).max().item<double>(), 0.05 + 1e-6);
}

TEST_F(CnnAttacks, SquareBreaksTheCnnWithoutAGradient) {
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

TEST_F(CnnAttacks, BpdaBreaksAnInputQuantisationThatPgdCannotMove) {
  torch::jit::Module quantise("Quantise");
  quantise.register_attribute("training", c10::BoolType::get(), false);
  quantise.define("def forward(self, x):\n    return torch.round(x * 4.0) / 4.0\n");
  ModelOptions o;
  o.preprocess = quantise;
  const Model defended = Model::wrap(trained_cnn().module(), o, "quantised");
  o.bpda = true;
  const Model through = Model::wrap(trained_cnn().module(), o, "quantised-bpda");
  const double plain = robust_accuracy(attack("pgd", {0.1}, {}, {}, 100, defended)[0]);
  const AttackRun bpda_run = attack("pgd", {0.1}, {}, {}, 100, through)[0];
  EXPECT_LT(robust_accuracy(bpda_run), plain - 0.2);
  // The examples break the defended model itself: its forward includes the quantisation.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(defended.logits(bpda_run.x_adv).argmax(1), bpda_run.pred_adv));
}

}  // namespace
}  // namespace advtk
