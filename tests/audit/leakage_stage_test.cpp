// The audit's gradient-exposure stage: its section and picture (the report's rendering is in
// audit_test), exact recovery through a first linear layer, a skip with the reason for a model
// whose gradient cannot be differentiated twice, and --skip leakage.
#include <gtest/gtest.h>

#include "attacks/attack_test_util.h"
#include "audit/audit_stages.h"
#include "test_util.h"

namespace advtk {
namespace {

class LeakageStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }
  static AuditOptions options(const std::string& out) {
    AuditOptions o;
    o.plan = audit_plan(AuditBudget::Quick);
    o.plan.leakage_batches = 2;
    o.plan.leakage_batches_of_8 = 1;
    o.out = out;
    o.model_info = {{"path", "m"}};
    return o;
  }
  // Only the stages this test needs: clean (the report's frame reads it) and leakage.
  static std::vector<std::unique_ptr<AuditStage>> stages(const AuditOptions&, int64_t,
                                                         nlohmann::json*) {
    std::vector<std::unique_ptr<AuditStage>> s;
    s.push_back(clean_stage());
    s.push_back(leakage_stage());
    return s;
  }
};

TEST_F(LeakageStageTest, AFirstLinearLayerGivesTheImagesBackExactly) {
  test::TempDir dir;
  const Model model = test::affine_model(torch::randn({10, 784}) * 0.01, torch::zeros({10}));
  const Dataset data = test::fashion(Split::Test, 16);
  const AuditResult result = run_audit_stages(model, data, options(dir.file("a")), stages);
  const nlohmann::json& g = result.report["gradient_exposure"];
  ASSERT_TRUE(g.contains("runs")) << g.dump();
  EXPECT_EQ(g["attack_batch_1"], "analytic");
  const nlohmann::json& plain = g["runs"][0];
  EXPECT_EQ(plain["defense"], "none");
  EXPECT_EQ(plain["batch_size"], 1);
  EXPECT_GT(plain["median_psnr"].get<double>(), 60);
  EXPECT_EQ(plain["label_accuracy"], 1.0);
  // none, noise, two prunings at batch 1, then the batch of 8.
  ASSERT_EQ(g["runs"].size(), 5u);
  EXPECT_EQ(g["runs"][4]["batch_size"], 8);
  EXPECT_LT(g["runs"][1]["median_psnr"].get<double>(), plain["median_psnr"].get<double>())
      << "noise on the shared gradient";
  EXPECT_NE(g["summary"].get<std::string>().find("batch of 1"), std::string::npos);
  ASSERT_TRUE(result.files.count("leakage.png"));
}

TEST_F(LeakageStageTest, AModelWithoutSecondDerivativesIsSkippedWithTheReason) {
  test::TempDir dir;
  torch::jit::Module m("Prototypes");
  m.register_parameter("p", torch::rand({10, 784}), false);
  m.define("def forward(self, x):\n    return -torch.cdist(torch.flatten(x, 1), self.p)\n");
  const Model model = Model::wrap(m, {}, "prototypes");
  const Dataset data = test::fashion(Split::Test, 16);
  const AuditResult result = run_audit_stages(model, data, options(dir.file("c")), stages);
  const nlohmann::json& g = result.report["gradient_exposure"];
  EXPECT_TRUE(g.value("skipped", false));
  EXPECT_NE(g.value("reason", "").find("cdist"), std::string::npos) << g.dump();
  AuditOptions o = options(dir.file("s"));
  o.skip = {"leakage"};
  const nlohmann::json s = run_audit_stages(model, data, o, stages).report["gradient_exposure"];
  EXPECT_EQ(s.value("reason", ""), "--skip leakage");
}

}  // namespace
}  // namespace advtk
