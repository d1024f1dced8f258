// The optimal assignment against brute force over every permutation.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "core/seeding.h"
#include "leakage/assignment.h"

namespace advtk {
namespace {

double total(const torch::Tensor& cost, const std::vector<int64_t>& p) {
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += cost[i][p[i]].item<double>();
  return s;
}

TEST(Assignment, FindsTheCheapestPermutation) {
  for (uint64_t seed = 0; seed < 8; ++seed) {
    torch::Generator gen = make_generator(seed);
    const int64_t n = 1 + static_cast<int64_t>(seed % 6);
    const torch::Tensor cost = torch::rand({n, n}, gen, torch::kDouble);
    std::vector<int64_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e300;
    do best = std::min(best, total(cost, perm));
    while (std::next_permutation(perm.begin(), perm.end()));
    const std::vector<int64_t> found = min_cost_assignment(cost);
    std::vector<int64_t> sorted = found;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(sorted[i], i) << "not a permutation";
    EXPECT_NEAR(total(cost, found), best, 1e-12) << "n " << n;
  }
}

TEST(Assignment, NeverMatchesTwoRowsToOneColumn) {
  // Both rows are nearest to column 0; the assignment must still use column 1 once.
  const torch::Tensor cost = torch::tensor({0.0, 5.0, 1.0, 9.0}, torch::kDouble).view({2, 2});
  EXPECT_EQ(min_cost_assignment(cost), (std::vector<int64_t>{1, 0}));
}

}  // namespace
}  // namespace advtk
