// AutoAttack's sanity checks, each on a model built to trip it and on one that must not.
#include "attacks/autoattack_checks.h"

#include <gtest/gtest.h>

#include "attack_test_util.h"

namespace advtk {
namespace {

Dataset examples(int64_t n, int64_t d) {
  Dataset data;
  auto gen = make_generator(2);
  data.images = torch::rand({n, 1, 1, d}, gen);
  data.labels = torch::randint(0, 3, {n}, gen);  // valid for the 3-class model too
  return data;
}

Model scripted(const std::string& body, const torch::Tensor& w) {
  torch::jit::Module m("M");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.define("def forward(self, x):\n    z = torch.flatten(x, 1)\n    return " + body + "\n");
  return Model::wrap(m, {}, "m");
}

std::map<std::string, bool> warnings(const Model& model, int64_t d = 6) {
  std::map<std::string, bool> out;
  for (const SanityCheck& c : autoattack_checks(model, examples(20, d), 64)) out[c.id] = c.warning;
  return out;
}

TEST(AutoAttackChecks, AnAffineModelPassesEveryCheck) {
  auto gen = make_generator(1);
  const auto w = warnings(test::affine_model(torch::randn({4, 6}, gen), torch::zeros({4})));
  ASSERT_EQ(w.size(), 5u);
  for (const auto& [id, warned] : w) EXPECT_FALSE(warned) << id;
}

TEST(AutoAttackChecks, EachCheckFiresOnTheModelBuiltToTripIt) {
  auto gen = make_generator(1);
  const torch::Tensor w = torch::randn({6, 4}, gen);
  EXPECT_TRUE(
      warnings(scripted("torch.mm(z + 0.1 * torch.randn_like(z), self.w)", w))["randomness"]);
  EXPECT_TRUE(warnings(scripted("torch.softmax(torch.mm(z, self.w), 1)", w))["probability-output"]);
  // Batch statistics: each example is centred on its batch's mean.
  EXPECT_TRUE(warnings(scripted("torch.mm(z - z.mean(0, keepdim=True), self.w)", w))["dynamic"]);
  EXPECT_TRUE(warnings(scripted("torch.mm(torch.round(z), self.w)", w))["zero-gradients"]);
  EXPECT_TRUE(warnings(scripted("torch.mm(z, self.w[:, 0:3])", w))["classes"]);
}

TEST(AutoAttackChecks, SquareBreakingWhatWhiteBoxLeftIsAWarning) {
  EXPECT_TRUE(square_check(3, 100).warning);
  EXPECT_NE(square_check(3, 100).message.find("3 of 100"), std::string::npos);
  EXPECT_FALSE(square_check(0, 100).warning);
}

}  // namespace
}  // namespace advtk
