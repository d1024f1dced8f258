// Planted poison against its definition: how many, which examples, what changed and what did
// not; and a BadNets model trained on it obeys its trigger.
#include <gtest/gtest.h>

#include <cmath>

#include "poisoning/backdoor_fixtures.h"
#include "poisoning/poison.h"

namespace advtk {
namespace {

TEST(Poison, BadNetsStampsAPatchOnARateOfNonTargetExamplesAndRelabelsThem) {
  const Dataset clean = test::toy(200, 3);
  PoisonOptions o;
  o.rate = 0.1;
  o.target = 2;
  o.trigger_size = 2;
  const PoisonedSet p = poison_dataset(clean, o);
  ASSERT_EQ(p.index.numel(), 20);
  const torch::Tensor changed = torch::zeros({200}, torch::kBool).index_fill(0, p.index, true);
  for (int64_t i = 0; i < 200; ++i) {
    if (!changed[i].item<bool>()) {
      EXPECT_TRUE(torch::equal(p.data.images[i], clean.images[i]));
      EXPECT_EQ(p.data.labels[i].item<int64_t>(), clean.labels[i].item<int64_t>());
      continue;
    }
    EXPECT_NE(clean.labels[i].item<int64_t>(), 2) << "drawn from the non-target classes";
    EXPECT_EQ(p.data.labels[i].item<int64_t>(), 2);
    const torch::Tensor img = p.data.images[i][0];  // 4x4
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        const bool patch = r >= 2 && c >= 2;  // bottom-right 2x2
        if (patch)
          EXPECT_EQ(img[r][c].item<float>(), 1.0f);
        else
          EXPECT_EQ(img[r][c].item<float>(), clean.images[i][0][r][c].item<float>());
      }
  }
  // The same seed, the same examples; another seed, others.
  EXPECT_TRUE(torch::equal(poison_dataset(clean, o).index, p.index));
  o.seed = 1;
  EXPECT_FALSE(torch::equal(poison_dataset(clean, o).index, p.index));
}

TEST(Poison, BlendMixesAFixedPatternWithWeightAlphaAndLabelFlipKeepsTheImages) {
  const Dataset clean = test::toy(100, 4);
  PoisonOptions o;
  o.attack = PoisonAttack::Blend;
  o.rate = 0.2;
  o.target = 1;
  o.alpha = 0.2;
  const PoisonedSet p = poison_dataset(clean, o);
  const int64_t i = p.index[0].item<int64_t>();
  EXPECT_TRUE(torch::allclose(p.data.images[i], 0.8 * clean.images[i] + 0.2 * p.trigger.pattern,
                              1e-6, 1e-6));
  o.attack = PoisonAttack::LabelFlip;
  const PoisonedSet f = poison_dataset(clean, o);
  EXPECT_TRUE(torch::equal(f.data.images, clean.images));
  EXPECT_EQ((f.data.labels != clean.labels).sum().item<int64_t>(), 20);
  EXPECT_TRUE(f.trigger.empty());
}

TEST(Poison, ImpossibleOptionsAreRefusedByName) {
  const Dataset clean = test::toy(50, 5);
  PoisonOptions o;
  o.target = 4;
  EXPECT_NE(test::error_of([&] { validate_poison(o, clean); }).find("--target"), std::string::npos);
  o.target = 0;
  o.rate = 1;
  EXPECT_NE(test::error_of([&] { validate_poison(o, clean); }).find("--rate"), std::string::npos);
  o.rate = 0.1;
  o.trigger_size = 5;
  EXPECT_NE(test::error_of([&] { validate_poison(o, clean); }).find("--trigger-size"),
            std::string::npos);
  o.trigger_size = 3;
  o.attack = PoisonAttack::Blend;
  o.alpha = 0;
  EXPECT_NE(test::error_of([&] { validate_poison(o, clean); }).find("--alpha"), std::string::npos);
}

TEST(Poison, ABadNetsModelObeysItsTriggerAndItsCleanTwinDoesNot) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const test::BackdoorFixture& f = test::backdoor_fixture();
  EXPECT_GT(f.poisoned_accuracy, 0.75);
  EXPECT_GE(attack_success_rate(f.poisoned, f.test, f.trigger, f.target, 500), 0.9);
  EXPECT_LT(attack_success_rate(f.clean, f.test, f.trigger, f.target, 500), 0.2);
}

TEST(Poison, ABlendModelObeysItsPattern) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const test::BackdoorFixture& f = test::backdoor_fixture();
  const test::PoisonedModel& blend = test::poisoned_model(PoisonAttack::Blend);
  EXPECT_GT(evaluate(blend.model, f.test, 500).accuracy, 0.75);
  EXPECT_GE(attack_success_rate(blend.model, f.test, blend.set.trigger, 0, 500), 0.9);
  EXPECT_LT(attack_success_rate(f.clean, f.test, blend.set.trigger, 0, 500), 0.2);
}

}  // namespace
}  // namespace advtk
