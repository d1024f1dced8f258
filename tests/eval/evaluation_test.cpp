#include "eval/evaluation.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk {
namespace {

// The model's logits are the input's three pixels, so its prediction is the brightest channel.
Model argmax_model() {
  torch::jit::Module m("ArgMax");
  m.define("def forward(self, x):\n    return torch.flatten(x, 1)\n");
  return Model::wrap(m, {}, "argmax");
}

Dataset with_predictions(const std::vector<int64_t>& labels, const std::vector<int64_t>& preds) {
  Dataset d;
  d.images = torch::zeros({static_cast<int64_t>(labels.size()), 3, 1, 1});
  for (size_t i = 0; i < preds.size(); ++i) d.images[i][preds[i]][0][0] = 1.0;
  d.labels = torch::tensor(labels, torch::kLong);
  d.source = "hand-made";
  return d;
}

TEST(Evaluation, ConfusionAndAccuraciesMatchAHandCount) {
  const Dataset d = with_predictions({0, 0, 1, 1, 1, 2}, {0, 1, 1, 1, 2, 2});
  const EvaluationResult r = evaluate(argmax_model(), d, /*batch_size=*/4);
  EXPECT_EQ(r.correct, 4);
  EXPECT_DOUBLE_EQ(r.accuracy, 4.0 / 6.0);
  EXPECT_TRUE(
      torch::equal(r.confusion, torch::tensor({{1, 1, 0}, {0, 2, 1}, {0, 0, 1}}, torch::kLong)));
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[0], 0.5);
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[1], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[2], 1.0);
  // Cross-entropy of logits (1,0,0) for the right class is log(1 + 2/e), for a wrong one log(2 + e)
  // - 0.
  const double right = std::log(2 + std::exp(1.0)) - 1, wrong = std::log(2 + std::exp(1.0));
  EXPECT_NEAR(r.mean_loss, (4 * right + 2 * wrong) / 6, 1e-6);
}

TEST(Evaluation, ClassesWithoutExamplesHaveNoAccuracy) {
  const Dataset d = with_predictions({0, 2}, {0, 1});
  const EvaluationResult r = evaluate(argmax_model(), d, 10, 3);
  EXPECT_TRUE(std::isnan(r.per_class_accuracy[1]));
  EXPECT_DOUBLE_EQ(r.per_class_accuracy[2], 0.0);
}

TEST(Evaluation, ADeterministicModelGivesTheSameFiguresOverSeveralPasses) {
  const Dataset d = with_predictions({0, 0, 1, 1, 1, 2}, {0, 1, 1, 1, 2, 2});
  const EvaluationResult one = evaluate(argmax_model(), d, 4);
  const EvaluationResult nine = evaluate(argmax_model(), d, 4, 0, {}, 9);
  EXPECT_FALSE(outputs_vary(argmax_model(), d, 4));
  EXPECT_EQ(nine.passes, 9);
  EXPECT_DOUBLE_EQ(nine.accuracy, one.accuracy);
  EXPECT_DOUBLE_EQ(nine.majority_accuracy, one.accuracy);
  EXPECT_TRUE(torch::equal(nine.confusion, one.confusion * 9));
  EXPECT_TRUE(torch::equal(nine.majority_correct, one.predictions.eq(d.labels)));
}

// The right class wins with probability 0.7 on every pass: the accuracy is that expectation, and a
// majority of 9 passes is right with probability P(Binomial(9, 0.7) >= 5) = 0.901.
TEST(Evaluation, ARandomisedModelsAccuracyIsTheExpectationOverPasses) {
  torch::jit::Module m("Coin");
  m.define(
      "def forward(self, x):\n"
      "    r = torch.rand_like(torch.flatten(x, 1))\n"
      "    return torch.cat([0.7 - r, torch.zeros_like(r)], 1)\n");
  const Model coin = Model::wrap(m, {}, "coin");
  Dataset d;
  d.images = torch::zeros({2000, 1, 1, 1});
  d.labels = torch::zeros({2000}, torch::kLong);
  torch::manual_seed(3);
  EXPECT_TRUE(outputs_vary(coin, d, 100));
  const EvaluationResult r = evaluate(coin, d, 500, 2, {}, 9);
  EXPECT_NEAR(r.accuracy, 0.7, 0.02);  // 0.7 - r > 0 with probability 0.7
  EXPECT_NEAR(r.majority_accuracy, 0.901, 0.03);
}

}  // namespace
}  // namespace advtk
