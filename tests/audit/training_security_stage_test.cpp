// The audit's training-security stage on the shared BadNets model: with its training set given,
// the poisoned group is found in the target class and the verdict is `backdoor`; on the clean
// twin with its own training set, no detector flags anything; the triggers' picture; --skip
// backdoor.
#include <gtest/gtest.h>

#include "audit/audit_stages.h"
#include "poisoning/backdoor_fixtures.h"

namespace advtk {
namespace {

class TrainingSecurityStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }
  static AuditOptions options(const std::string& out, const Dataset* train) {
    AuditOptions o;
    o.plan = audit_plan(AuditBudget::Quick);
    o.out = out;
    o.model_info = {{"path", "m"}};
    o.train_data = train;
    return o;
  }
  static std::vector<std::unique_ptr<AuditStage>> stages(const AuditOptions&, int64_t,
                                                         nlohmann::json*) {
    std::vector<std::unique_ptr<AuditStage>> s;
    s.push_back(clean_stage());
    s.push_back(training_security_stage());
    return s;
  }
};

TEST_F(TrainingSecurityStageTest, FindsThePoisonedGroupOfABadNetsTrainingSet) {
  test::TempDir dir;
  const test::PoisonedModel& p = test::poisoned_model(PoisonAttack::BadNets);
  const Dataset audit_data = test::fashion(Split::Test, 300);
  const AuditResult result =
      run_audit_stages(p.model, audit_data, options(dir.file("a"), &p.set.data), stages);
  const nlohmann::json& t = result.report["training_security"];
  ASSERT_TRUE(t.contains("neural_cleanse")) << t.dump();
  EXPECT_EQ(t["verdict"], "backdoor");
  EXPECT_EQ(t["target_class"], 0);
  EXPECT_EQ(t["training_data"]["poisoned_classes"], nlohmann::json::array({0}));
  EXPECT_EQ(t["clean_examples"], 200);  // the quick plan's clean inputs
  EXPECT_EQ(t["neural_cleanse"]["mask_norm"].size(), 10u);
  EXPECT_NE(t["summary"].get<std::string>().find("poisoned group in class 0"), std::string::npos)
      << t["summary"];
  ASSERT_TRUE(result.files.count("triggers.png"));  // the report's rendering: audit_test
}

TEST_F(TrainingSecurityStageTest, ACleanModelsTrainingSetRaisesNoFlagAndTheStageSkips) {
  test::TempDir dir;
  const Dataset audit_data = test::fashion(Split::Test, 300);
  const AuditResult result = run_audit_stages(
      test::clean_model(0), audit_data, options(dir.file("a"), &test::clean_train_set()), stages);
  const nlohmann::json& t = result.report["training_security"];
  ASSERT_TRUE(t.contains("training_data")) << t.dump();
  EXPECT_TRUE(t["training_data"]["poisoned_classes"].empty());
  EXPECT_TRUE(t["suspicious_index"].empty());
  AuditOptions skip = options(dir.file("b"), nullptr);
  skip.skip = {"backdoor"};
  const nlohmann::json s = run_audit_stages(test::clean_model(0), audit_data, skip, stages).report;
  EXPECT_EQ(s["training_security"]["skipped"], true);
}

}  // namespace
}  // namespace advtk
