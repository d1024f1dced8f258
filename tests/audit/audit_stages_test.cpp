// The audit as a list of stages: the list and its skip keys, the work estimate as the sum of the
// stages', and a stage of a test's own plugged into the runner: its section reaches the report,
// its per-example records reach the worst case, it resumes from the store and --skip leaves it
// out.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "attacks/attack_test_util.h"
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "test_util.h"

namespace advtk {
namespace {

std::vector<std::string> names_of(const std::vector<std::unique_ptr<AuditStage>>& stages) {
  std::vector<std::string> names;
  for (const auto& s : stages) names.push_back(s->name());
  return names;
}

TEST(AuditStages, TheListRunsEveryStandardAttackTheNormHasThenTheOtherSections) {
  AuditOptions o;
  nlohmann::json skipped;
  EXPECT_EQ(names_of(audit_stages(o, 10, &skipped)),
            (std::vector<std::string>{
                "clean", "attack-fgsm", "attack-pgd", "attack-apgd", "attack-apgd-t",
                "attack-square", "min-norm-deepfool", "min-norm-cw", "masking", "adaptive",
                "worst-case", "numerical", "sharpness", "leakage", "training-security", "checks"}));
  EXPECT_TRUE(skipped.empty());
  o.norm = Norm::L2;
  EXPECT_EQ(names_of(audit_stages(o, 10))[1], "attack-fgm");
  // APGD-T's targeted DLR loss needs 4 classes: the untargeted DLR loss replaces it with 3.
  o.norm = Norm::Linf;
  const std::vector<std::string> three = names_of(audit_stages(o, 3, &skipped));
  EXPECT_NE(std::find(three.begin(), three.end(), "attack-apgd-dlr"), three.end());
  EXPECT_EQ(std::find(three.begin(), three.end(), "attack-apgd-t"), three.end());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0]["replaced_by"], "apgd-dlr");
  const std::vector<std::string> two = names_of(audit_stages(o, 2, &skipped));
  EXPECT_EQ(std::count_if(two.begin(), two.end(),
                          [](const std::string& n) { return n.find("apgd-") != n.npos; }),
            0);
  EXPECT_EQ(audit_skip_keys(),
            (std::vector<std::string>{"min-norm", "masking", "sharpness", "leakage", "backdoor"}));
  EXPECT_NO_THROW(check_skip_keys({"masking", "min-norm"}));
  EXPECT_NE(test::error_of([] {
              check_skip_keys({"everything"});
            }).find("expected min-norm, masking, sharpness, leakage or backdoor, got 'everything'"),
            std::string::npos);
}

TEST(AuditStages, TheWorkEstimateIsTheSumOfTheStagesThatRun) {
  AuditOptions o;
  o.eps = {0.05, 0.1, 0.2};
  double sum = 0.0;
  for (const auto& s : audit_stages(o, 10)) sum += s->work(o, 1000, 10);
  EXPECT_DOUBLE_EQ(audit_work_estimate(o, 1000, 10), sum);
  // PGD alone, by hand: 3 budgets × 40 steps × 1 restart × 1,000 examples.
  EXPECT_DOUBLE_EQ(attack_stage("pgd")->work(o, 1000, 10), 3.0 * 40 * 1000);
  const double adaptive = audit_adaptive_work_estimate(o, 1000, 10);
  EXPECT_GT(adaptive, 0.0);
  o.skip = {"masking"};
  EXPECT_DOUBLE_EQ(audit_work_estimate(o, 1000, 10), sum - masking_stage()->work(o, 1000, 10));
  EXPECT_EQ(audit_adaptive_work_estimate(o, 1000, 10), 0.0);
  AuditOptions quick = o, thorough = o;
  quick.plan = audit_plan(AuditBudget::Quick);
  thorough.plan = audit_plan(AuditBudget::Thorough);
  EXPECT_LT(audit_work_estimate(quick, 200, 10), audit_work_estimate(o, 200, 10));
  EXPECT_LT(audit_work_estimate(o, 200, 10), audit_work_estimate(thorough, 200, 10));
}

// A section of a test's own: it "breaks" every clean-correct example at the main budget and
// above, saves what it found and counts how often it computed rather than read back.
class EveryExampleStage final : public AuditStage {
 public:
  explicit EveryExampleStage(int* computed) : computed_(computed) {}
  std::string name() const override { return "every-example"; }
  std::string skip_key() const override { return "every-example"; }
  StageScope scope() const override { return StageScope::PerExample; }
  double work(const AuditOptions&, int64_t examples, int64_t) const override {
    return static_cast<double>(examples);
  }
  StageOutput run(const AuditSetup& s, const AuditState& state,
                  StageRunner& runner) const override {
    runner.begin("every example");
    if (!runner.json(name())) {
      ++*computed_;
      runner.save(name(), {{"broken", state.clean_correct.sum().item<int64_t>()}},
                  {{"broken", state.clean_correct.clone()}});
    }
    const torch::Tensor broken = runner.tensors(name())->at("broken").to(torch::kBool);
    StageOutput out;
    out.sections["every_example"] = *runner.json(name());
    BreakRecord record{"every-example", "test-set", {}};
    for (double eps : s.options.eps)
      record.broken.push_back(eps >= s.options.main_eps ? broken : torch::Tensor());
    out.breaks.push_back(std::move(record));
    return out;
  }
  StageOutput skipped() const override {
    StageOutput out;
    out.sections["every_example"] = {{"skipped", true}};
    return out;
  }

 private:
  int* computed_;
};

class AuditStageRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }
  StageList stages() {
    return [this](const AuditOptions&, int64_t, nlohmann::json* skipped) {
      if (skipped) *skipped = nlohmann::json::array();
      std::vector<std::unique_ptr<AuditStage>> list;
      list.push_back(clean_stage());
      list.push_back(std::make_unique<EveryExampleStage>(&computed_));
      list.push_back(worst_case_stage());
      return list;
    };
  }
  AuditOptions options(const std::string& out) const {
    AuditOptions o;
    o.eps = {0.05, 0.1, 0.2};
    o.batch_size = 16;
    o.out = out;
    o.model_info = {{"path", "affine"}};
    return o;
  }
  int computed_ = 0;
};

TEST_F(AuditStageRunnerTest, ANewStageReachesTheReportTheWorstCaseAndTheStore) {
  torch::manual_seed(0);
  const Model model = test::affine_model(torch::randn({10, 784}) * 0.1, torch::zeros({10}));
  const Dataset data = test::fashion(Split::Test, 48);
  test::TempDir dir;
  AuditOptions o = options(dir.file("a"));
  const nlohmann::json r = run_audit_stages(model, data, o, stages()).report;
  EXPECT_EQ(computed_, 1);
  const int64_t correct = r["worst_case"][0]["robust_examples"].get<int64_t>();
  EXPECT_NEAR(r["clean_accuracy"].get<double>(), correct / 48.0, 1e-12);
  ASSERT_GT(correct, 0);
  EXPECT_EQ(r["every_example"]["broken"], correct);
  EXPECT_EQ(r["settings"]["sections"], nlohmann::json({{"every_example", true}}));
  // Below the main budget (0.1) the record does not apply; at and above it, it breaks all.
  EXPECT_TRUE(r["worst_case"][0]["broken_by"].empty());
  for (int e : {1, 2}) {
    EXPECT_EQ(r["worst_case"][e]["robust_accuracy"], 0.0);
    EXPECT_EQ(r["worst_case"][e]["broken_by"]["every-example"], correct);
    EXPECT_EQ(r["worst_case"][e]["attack_sets"], nlohmann::json({"test-set"}));
  }
  EXPECT_EQ(r["main_robust_accuracy_from"], "test-set");

  // Resumed: read back from the store, not computed again.
  o.resume = true;
  EXPECT_EQ(run_audit_stages(model, data, o, stages()).report["every_example"]["broken"], correct);
  EXPECT_EQ(computed_, 1);

  // Skipped by its key: its skipped() section, nothing broken.
  AuditOptions skip = options(dir.file("b"));
  skip.skip = {"every-example"};
  const nlohmann::json s = run_audit_stages(model, data, skip, stages()).report;
  EXPECT_EQ(s["every_example"]["skipped"], true);
  EXPECT_EQ(s["settings"]["sections"]["every_example"], false);
  EXPECT_NEAR(s["main_robust_accuracy"].get<double>(), correct / 48.0, 1e-12);
  EXPECT_EQ(computed_, 1);
  skip.skip = {"masking"};  // not a key of this list
  EXPECT_NE(test::error_of([&] {
              run_audit_stages(model, data, skip, stages());
            }).find("expected every-example, got 'masking'"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
