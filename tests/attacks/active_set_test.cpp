// The active set narrows what a loop carries, maps its rows back to the batch and writes the
// batch-wide result there.
#include <gtest/gtest.h>

#include "attacks/active_set.h"

namespace advtk {
namespace {

TEST(ActiveSet, KeepNarrowsEveryCarriedTensorAndTheResultIsWrittenAtTheBatchRows) {
  ActiveSet active(torch::arange(5));
  torch::Tensor state = torch::arange(10).view({5, 2}), undefined;
  active.carry(state);
  active.carry(undefined);
  const torch::Tensor logits = torch::arange(5) * 10;
  ASSERT_TRUE(active.keep(torch::tensor({true, false, true, false, true})));
  EXPECT_TRUE(torch::equal(active.rows(), torch::tensor({0, 2, 4})));
  EXPECT_TRUE(torch::equal(state, torch::tensor({{0, 1}, {4, 5}, {8, 9}})));
  EXPECT_FALSE(undefined.defined());
  EXPECT_TRUE(torch::equal(active.narrowed(logits), torch::tensor({0, 20, 40})));
  EXPECT_TRUE(torch::equal(active.select(torch::arange(5) + 100), torch::tensor({100, 102, 104})));

  torch::Tensor pred = torch::full({5}, -1, torch::kLong), calls = torch::zeros({5}, torch::kLong);
  active.write(pred, torch::tensor({7, 8, 9}));
  EXPECT_TRUE(torch::equal(pred, torch::tensor({7, -1, 8, -1, 9})));
  active.write_where(pred, torch::tensor({false, true, false}), torch::tensor({0, 0, 0}));
  EXPECT_TRUE(torch::equal(pred, torch::tensor({7, -1, 0, -1, 9})));
  active.count(calls);
  active.count(calls, 3);
  EXPECT_TRUE(torch::equal(calls, torch::tensor({4, 0, 4, 0, 4})));

  // Keeping all narrows nothing (and narrowed() passes through); keeping none reports it.
  ASSERT_TRUE(active.keep(torch::ones({3}, torch::kBool)));
  EXPECT_TRUE(torch::equal(active.narrowed(torch::tensor({1, 2, 3})), torch::tensor({1, 2, 3})));
  EXPECT_FALSE(active.keep(torch::zeros({3}, torch::kBool)));
  EXPECT_EQ(active.size(), 3);
}

}  // namespace
}  // namespace advtk
