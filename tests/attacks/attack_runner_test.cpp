#include "attacks/attack_runner.h"

#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "attacks/noise.h"
#include "attacks/registry.h"
#include "test_util.h"
#include "trained_cnn.h"

namespace advtk {
namespace {

using test::attack;
using test::robust_accuracy;
using test::trained_cnn;
using test::with_norm;

Dataset affine_data(const torch::Tensor& w, const torch::Tensor& b, int64_t n) {
  Dataset d;
  d.images = torch::rand({n, 1, 1, w.size(1)}, make_generator(5));
  d.labels = torch::addmm(b, d.images.flatten(1), w.t()).argmax(1);
  d.labels.slice(0, 0, 3).fill_(0);  // a few examples start misclassified (or not)
  d.source = "affine";
  return d;
}

// Throws CUDA's out-of-memory message for batches larger than `limit`, else runs FGSM.
class MemoryHungry : public Attack {
 public:
  explicit MemoryHungry(int64_t limit) : limit_(limit), fgsm_(make_fgsm({Norm::Linf, 0.1})) {}
  AttackResult run(const Model& model, const AttackBatch& batch) override {
    if (batch.x.size(0) > limit_)
      throw std::runtime_error("CUDA out of memory. Tried to allocate 2 GiB");
    return fgsm_->run(model, batch);
  }
  std::string name() const override { return "hungry"; }
  Norm norm() const override { return Norm::Linf; }
  double budget() const override { return 0.1; }
  nlohmann::json parameters() const override { return fgsm_->parameters(); }

 private:
  int64_t limit_;
  std::unique_ptr<Attack> fgsm_;
};

// The per-example call counts (what `advtk bench` divides time by) against the model's own count
// of the rows it was fed: every forward pass, gradient or not, of every attack family.
TEST(AttackRunner, CallCountsAreTheRowsTheModelWasFed) {
  const torch::Tensor w = torch::randn({4, 10}, make_generator(2)), b = torch::zeros({4});
  torch::jit::Module m("CountingAffine");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_attribute("rows", c10::IntType::get(), int64_t{0});
  m.register_parameter("w", w, false);
  m.register_parameter("b", b, false);
  m.define(
      "def forward(self, x):\n    self.rows += x.size(0)\n"
      "    return torch.addmm(self.b, torch.flatten(x, 1), self.w.t())\n");
  const Model model = Model::wrap(m, ModelOptions(), "counting");
  const Dataset data = affine_data(w, b, 30);
  const std::vector<std::pair<std::string, OptionValues>> cases = {
      {"fgsm", {}},
      {"pgd", OptionValues().set("steps", int64_t{5})},
      {"pgd", OptionValues().set("steps", int64_t{5}).set("early-stop", false)},
      {"apgd", OptionValues().set("steps", int64_t{10})},
      {"apgd-t", OptionValues().set("steps", int64_t{5})},
      {"fab", OptionValues().set("steps", int64_t{5})},
      {"square", OptionValues().set("queries", int64_t{40})},
      {"deepfool", {}},
      {"cw", OptionValues().set("steps", int64_t{10})}};
  for (const auto& [name, options] : cases) {
    AttackSetup setup;
    setup.threat.eps = 0.05;
    setup.threat.norm = describe_attack(name).norms.front();
    AttackRunOptions o;
    o.batch_size = 8;
    m.setattr("rows", int64_t{0});
    const auto runs = run_attack(
        model, data,
        [&](double eps) {
          setup.threat.eps = eps;
          return make_attack(name, setup, options);
        },
        {0.05}, o);
    EXPECT_EQ(runs[0].forward_calls.sum().item<int64_t>(), m.attr("rows").toInt()) << name;
    // Square queries the scores alone.
    EXPECT_EQ(runs[0].backward_calls.sum().item<int64_t>() > 0, name != "square") << name;
  }
}

TEST(AttackRunner, OutOfMemoryBatchesAreSplitNotFatal) {
  const torch::Tensor w = torch::randn({4, 10}, make_generator(1)), b = torch::zeros({4});
  const Model model = test::affine_model(w, b);
  const Dataset data = affine_data(w, b, 40);
  AttackRunOptions o;
  o.batch_size = 16;
  const auto split = run_attack(
      model, data, [](double) { return std::make_unique<MemoryHungry>(3); }, {0.1}, o);
  o.batch_size = 2;
  const auto small = run_attack(
      model, data, [](double) { return std::make_unique<MemoryHungry>(3); }, {0.1}, o);
  EXPECT_TRUE(torch::equal(split[0].x_adv, small[0].x_adv));
  EXPECT_TRUE(torch::equal(split[0].success, small[0].success));
}

// Two classes, the prediction a fair coin on every pass, whatever the input.
Model coin_model() {
  torch::jit::Module m("Coin");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.define(
      "def forward(self, x):\n"
      "    z = torch.randn([x.size(0), 1], dtype=x.dtype, device=x.device) + 0 * x.sum()\n"
      "    return torch.cat([z, -z], 1)\n");
  return Model::wrap(m, {}, "coin");
}

TEST(AttackRunner, SuccessIsJudgedAgainOnTheReturnedPoints) {
  torch::manual_seed(11);
  const Model model = coin_model();
  Dataset data;
  data.images = torch::rand({400, 1, 2, 2}, make_generator(3));
  data.labels = torch::zeros({400}, torch::kLong);
  data.source = "coin";
  AttackRunOptions o;
  o.skip_misclassified = false;
  const auto make = [](double eps) {
    NoiseOptions n;
    n.threat = {Norm::Linf, eps};
    n.draws = 20;
    return std::make_unique<NoiseAttack>(n);
  };
  const AttackRun r = run_attack(model, data, make, {0.1}, o).front();
  // Inside the attack 21 passes each see the wrong class with probability 1/2: almost every
  // example is claimed (1 - 2^-21). A fresh pass on the returned point agrees half the time
  // (400 fair coins: 200 ± 10, so [150, 250] is five standard deviations).
  EXPECT_GE(r.claimed.sum().item<int64_t>(), 399);
  const int64_t held = r.success.sum().item<int64_t>();
  EXPECT_GE(held, 150);
  EXPECT_LE(held, 250);
  // What is reported is that judgement: no success with a correct reported prediction.
  EXPECT_EQ((r.success & r.pred_adv.eq(data.labels)).sum().item<int64_t>(), 0);
}

TEST(AttackRunner, BudgetSweepKeepsBrokenExamplesAndMisclassifiedOnes) {
  const torch::Tensor w = torch::randn({4, 10}, make_generator(2)), b = torch::zeros({4});
  const Model model = test::affine_model(w, b);
  const Dataset data = affine_data(w, b, 60);
  const auto runs = run_attack(model, data,
                               [](double eps) {
                                 return make_fgsm({Norm::Linf, eps});
                               },
                               {0.2, 0.0, 0.05}, {});
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].eps, 0.0);
  EXPECT_EQ(runs[2].eps, 0.2);
  const torch::Tensor misclassified = runs[0].clean_pred.ne(runs[0].y);
  EXPECT_TRUE(torch::equal(runs[0].success, misclassified));  // ε = 0 breaks nothing new
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_TRUE(
        (runs[i].success | ~runs[i - 1].success).all().item<bool>());  // broken stays broken
    EXPECT_LE(distance(Norm::Linf, runs[i].x_adv, runs[i].x).max().item<double>(),
              runs[i].eps + 1e-6);
  }
  EXPECT_EQ(runs[2].backward_calls.masked_select(misclassified).sum().item<int64_t>(), 0);
}

TEST(AttackRunner, ABudgetBeyondTheBoxIsRefusedWithItsDiameter) {
  // Inputs in [0, 1]^10: no two are further apart than 1 (Linf), sqrt(10) (L2) or 10 (L1).
  const torch::Tensor w = torch::randn({4, 10}, make_generator(1)), b = torch::zeros({4});
  const Model model = test::affine_model(w, b);
  const Dataset data = affine_data(w, b, 8);
  const auto pgd = [](Norm norm) {
    return [norm](double eps) {
      IterativeAttackOptions o;
      o.threat = {norm, eps};
      o.steps = 2;
      return make_pgd(o);
    };
  };
  EXPECT_NO_THROW(run_attack(model, data, pgd(Norm::Linf), {0.1, 1.0}, {}));
  EXPECT_NE(test::error_of([&] {
              run_attack(model, data, pgd(Norm::Linf), {0.1, 1e308}, {});
            })
                .find("--eps 1e+308: more than the largest linf distance between two inputs in "
                      "the model's range (1)"),
            std::string::npos);
  EXPECT_NO_THROW(run_attack(model, data, pgd(Norm::L2), {std::sqrt(10.0)}, {}));
  EXPECT_THROW(run_attack(model, data, pgd(Norm::L2), {3.2}, {}), Error);
  EXPECT_NO_THROW(run_attack(model, data, pgd(Norm::L1), {10.0}, {}));
  EXPECT_THROW(run_attack(model, data, pgd(Norm::L1), {10.5}, {}), Error);
}

// The runner on a trained CNN, with PGD: budgets, seeds, batching and early stopping.
class AttackRunnerOnTheCnn : public test::CnnTest {};

TEST_F(AttackRunnerOnTheCnn, RobustAccuracyStartsAtCleanAndFallsWithTheBudget) {
  const auto runs = attack("pgd", {0.0, 0.02, 0.05, 0.1});
  const double clean = runs[0].clean_pred.eq(runs[0].y).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(clean, 0.7);
  EXPECT_DOUBLE_EQ(robust_accuracy(runs[0]), clean);
  for (size_t i = 1; i < runs.size(); ++i)
    EXPECT_LE(robust_accuracy(runs[i]), robust_accuracy(runs[i - 1]));
  EXPECT_LT(robust_accuracy(runs.back()), 0.5 * clean);
}

TEST_F(AttackRunnerOnTheCnn, SameSeedSameResultAndBatchingDoesNotMatter) {
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

TEST_F(AttackRunnerOnTheCnn, EarlyStoppingSavesWorkWithoutChangingRobustAccuracy) {
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

}  // namespace
}  // namespace advtk
