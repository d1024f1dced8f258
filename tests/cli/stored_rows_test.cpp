#include "cli/stored_rows.h"

#include <gtest/gtest.h>

#include "attacks/attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "test_util.h"

namespace advtk {
namespace {

// The batches in memory, as the attack's store holds them on disk.
class MemoryStore final : public AttackBatchStore {
 public:
  std::optional<std::map<std::string, torch::Tensor>> load(size_t, int64_t) const override {
    return std::nullopt;
  }
  void save(size_t budget, int64_t batch,
            const std::map<std::string, torch::Tensor>& outcome) const override {
    batches_[{budget, batch}] = outcome;
  }
  bool holds(size_t budget, int64_t batch) const override {
    return batches_.count({budget, batch}) > 0;
  }
  std::map<std::string, torch::Tensor> read(size_t budget, int64_t batch) const override {
    return batches_.at({budget, batch});
  }

 private:
  mutable std::map<std::pair<size_t, int64_t>, std::map<std::string, torch::Tensor>> batches_;
};

// A targeted sweep keeps x_adv in memory or leaves it in the store: the rows read back from the
// store are the ones kept, budget by budget (an example that missed its target at a larger
// budget keeps the smaller budget's), and the distances are those of the kept x_adv.
TEST(StoredRows, ReadsBackWhatARunKeepingXAdvHolds) {
  const torch::Tensor w = torch::randn({4, 10}, make_generator(2)), b = torch::zeros({4});
  const Model model = test::affine_model(w, b);
  Dataset data;
  data.images = torch::rand({41, 1, 1, 10}, make_generator(5));
  data.labels = torch::addmm(b, data.images.flatten(1), w.t()).argmax(1);
  data.source = "affine";
  const AttackFactory fgsm = [](double eps) { return make_fgsm({Norm::Linf, eps}); };
  AttackRunOptions kept;
  kept.batch_size = 8;  // the last batch of the first budget holds one example
  kept.target.mode = TargetMode::Random;
  MemoryStore store;
  AttackRunOptions stored = kept;
  stored.store = &store;
  stored.keep_x_adv = false;
  const std::vector<double> budgets = {0.02, 0.1, 0.3};
  const auto a = run_attack(model, data, fgsm, budgets, kept);
  const auto s = run_attack(model, data, fgsm, budgets, stored);
  ASSERT_EQ(a.size(), 3u);
  int64_t earlier = 0;  // examples whose x_adv is an earlier budget's
  for (size_t e = 0; e < a.size(); ++e) {
    EXPECT_FALSE(s[e].x_adv.defined());
    cli::StoredRows rows(s[e], store);
    const torch::Tensor x_adv = torch::cat({rows.next(30), rows.next(11)});
    EXPECT_TRUE(torch::equal(x_adv, a[e].x_adv)) << "budget " << e;
    EXPECT_TRUE(torch::equal(s[e].l2, distance(Norm::L2, a[e].x_adv, a[e].x).to(torch::kFloat)));
    EXPECT_TRUE(torch::equal(s[e].l1, distance(Norm::L1, a[e].x_adv, a[e].x).to(torch::kFloat)));
    EXPECT_TRUE(
        torch::equal(s[e].linf, distance(Norm::Linf, a[e].x_adv, a[e].x).to(torch::kFloat)));
    EXPECT_TRUE(torch::equal(s[e].success, a[e].success));
    const torch::Tensor& from = s[e].x_adv_budget;
    earlier += (from.ge(0) & from.lt(static_cast<int64_t>(e))).sum().item().toLong();
  }
  EXPECT_GT(earlier, 0);  // the sweep's rows come from more than one budget
  // Some of the examples, in order (a part's attacked rows).
  const torch::Tensor some = torch::tensor({3, 4, 17, 40}, torch::kLong);
  cli::StoredRows part(s[2], store, some);
  EXPECT_TRUE(torch::equal(part.next(4), a[2].x_adv.index_select(0, some)));
}

}  // namespace
}  // namespace advtk
