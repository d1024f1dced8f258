// Attack targets: random ones seeded per example, the least likely class, a class out of range.
#include "attacks/targets.h"

#include <gtest/gtest.h>

#include "core/seeding.h"
#include "test_util.h"

namespace advtk {
namespace {

TEST(Targets, RandomTargetsAreOtherClassesAndSeededPerExample) {
  const torch::Tensor logits = torch::randn({100, 10}, make_generator(3));
  const torch::Tensor labels = logits.argmax(1);
  const torch::Tensor ids = torch::arange(100, torch::kLong);
  const torch::Tensor t = choose_targets({TargetMode::Random}, logits, labels, ids, 7);
  EXPECT_TRUE(t.ne(labels).all().item<bool>());
  EXPECT_TRUE(t.ge(0).all().item<bool>() && t.lt(10).all().item<bool>());
  // The same example gets the same target in any selection.
  const torch::Tensor part = choose_targets({TargetMode::Random}, logits.slice(0, 50),
                                            labels.slice(0, 50), ids.slice(0, 50), 7);
  EXPECT_TRUE(torch::equal(part, t.slice(0, 50)));
  EXPECT_TRUE(torch::equal(choose_targets({TargetMode::LeastLikely}, logits, labels, ids, 0),
                           logits.argmin(1)));
  EXPECT_NE(test::error_of([&] {
              choose_targets({TargetMode::Fixed, 10}, logits, labels, ids, 0);
            }).find("--target"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
