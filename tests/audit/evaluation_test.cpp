#include "audit/evaluation.h"

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

}  // namespace
}  // namespace advtk
