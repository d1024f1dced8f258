#include "diagnostics/masking.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "cached_model.h"
#include "defenses/adversarial_training.h"
#include "masking_fixtures.h"
#include "models/zoo.h"
#include "test_util.h"
#include "training/trainer.h"

namespace advtk {
namespace {

// A zoo CNN trained plainly on 3,000 Fashion-MNIST images (or adversarially; once per build), the
// data the checks run on, and options sized for a test (the CLI's defaults are larger).
class Masking : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    test_ = test::fashion(Split::Test, 300);
  }

  static torch::jit::Module trained_cnn(bool adversarial) {
    return trained(Architecture::Cnn, adversarial ? "pgd" : "", 2);
  }

  // A zoo model trained on 3,000 Fashion-MNIST images: plainly (method ""), or adversarially
  // ("pgd", "trades") at Linf 0.1.
  static torch::jit::Module trained(Architecture arch, const std::string& method, int64_t epochs) {
    const std::string name = "masking-" + architecture_name(arch) + "-" +
                             (method.empty() ? "plain" : method) + "-" + std::to_string(epochs);
    return test::cached_model(name, [&] { return train_model(arch, method, epochs); }).module();
  }

  static Model train_model(Architecture arch, const std::string& method, int64_t epochs) {
    ZooOptions z;
    Model model = Model::wrap(build_zoo_model(arch, z), {}, "zoo");
    TrainOptions t;
    t.epochs = epochs;
    t.batch_size = 64;
    AdversarialTrainingOptions a;
    a.threat = {Norm::Linf, 0.1};
    if (!method.empty()) a.method = parse_adversarial_method(method);
    std::unique_ptr<TrainingObjective> objective =
        method.empty() ? std::make_unique<CrossEntropyObjective>() : make_adversarial_objective(a);
    train(model, test::fashion(Split::Train, 3000), nullptr, *objective, t);
    return model;
  }

  static MaskingOptions quick() {
    MaskingOptions o;
    o.threat = {Norm::Linf, 0.1};
    o.points = 60;
    o.expensive_points = 30;
    o.pgd_steps = 20;
    o.apgd_steps = 25;
    o.square_queries = 300;
    o.noise_draws = 100;
    o.vote_passes = 5;
    o.batch_size = 100;
    return o;
  }

  MaskingReport check(const torch::jit::Module& module,
                      std::optional<torch::jit::Module> front_end = std::nullopt,
                      MaskingOptions o = quick()) {
    ModelOptions m;
    m.preprocess = front_end;
    const Model model = Model::wrap(module, m, "defended");
    std::optional<Model> bpda;
    if (front_end) {
      m.bpda = true;
      bpda = Model::wrap(module, m, "defended-bpda");
      o.bpda_model = &*bpda;
    }
    MaskingReport r = detect_masking(model, test_, o);
    // One line for the log: how far each verdict is from its thresholds.
    std::string ids;
    for (const auto& i : r.indicators)
      if (i.fired) ids += " " + i.id;
    double cos_eps = 0, cos_small = 0;
    for (const auto& i : r.indicators) {
      if (i.id != "shattered-gradients") continue;
      cos_eps = i.extra["median_cosine_eps"];
      cos_small = i.extra["median_cosine_eps_over_16"];
    }
    std::printf(
        "verdict %s: PGD %.3f -> adaptive %.3f, all attacks %.3f (%s); gradient cosine "
        "%.3f at eps/16, %.3f at eps; fired:%s\n",
        verdict_name(r.verdict).c_str(), r.pgd_accuracy, r.adaptive_accuracy, r.worst_case_accuracy,
        r.lowered_most_by.c_str(), cos_small, cos_eps, ids.c_str());
    EXPECT_LE(r.worst_case_accuracy, r.adaptive_accuracy);
    EXPECT_LE(r.worst_case_accuracy, r.pgd_accuracy);
    return r;
  }

  static bool fired(const MaskingReport& r, const std::string& id) {
    for (const auto& i : r.indicators)
      if (i.id == id) return i.fired;
    ADD_FAILURE() << "no indicator " << id;
    return false;
  }

  static int64_t lost_iterates(const MaskingReport& r) {
    for (const auto& i : r.indicators)
      if (i.id == "optimisation-health") return i.extra["adversarial_iterate_not_returned"];
    ADD_FAILURE() << "no optimisation-health indicator";
    return -1;
  }

  static std::string summary(const MaskingReport& r) {
    nlohmann::json j = to_json(r);
    for (auto& i : j["indicators"]) i.erase("examples");
    return j.dump(1);
  }

  Dataset test_;
};

// The verdict rule on hand-made figures.
MaskingReport figures(double pgd, double adaptive, bool symptom_fired) {
  MaskingReport r;
  r.points = 200;
  r.pgd_accuracy = pgd;
  r.adaptive_accuracy = r.worst_case_accuracy = adaptive;
  r.lowered_most_by = "R3 bpda";
  Indicator i;
  i.id = "broken-graph";
  i.fired = symptom_fired;
  r.indicators.push_back(i);
  return r;
}

TEST(MaskingVerdict, ALargeLadderDropIsEvidenceWithoutAnyIndicator) {
  MaskingReport r = figures(0.80, 0.55, false);  // 25 points: beyond every honest model's drop
  decide_verdict(r);
  EXPECT_EQ(r.verdict, Verdict::Masked) << r.message;
  r = figures(0.80, 0.67, false);  // 13 points, as an undefended CNN under L1
  decide_verdict(r);
  EXPECT_EQ(r.verdict, Verdict::NoEvidence) << r.message;
  // A symptom with a drop of 5 points is masking; without a drop it is suspect.
  r = figures(0.80, 0.74, true);
  decide_verdict(r);
  EXPECT_EQ(r.verdict, Verdict::Masked);
  r = figures(0.80, 0.80, true);
  decide_verdict(r);
  EXPECT_EQ(r.verdict, Verdict::Suspect);
  // Too few points for the drop to count: 25 points of 20 examples is 5 examples.
  r = figures(0.80, 0.55, false);
  r.points = 20;
  decide_verdict(r);
  EXPECT_EQ(r.verdict, Verdict::NoEvidence);
}

TEST_F(Masking, PlainCnnShowsNoEvidence) {
  const MaskingReport r = check(trained_cnn(false));
  EXPECT_EQ(r.verdict, Verdict::NoEvidence) << summary(r);
  EXPECT_LE(r.adaptive_accuracy, r.pgd_accuracy);
  EXPECT_EQ(lost_iterates(r), 0);  // deterministic: the attack's verdict is the returned point's
}

// L1 attacks are far from converged in tens of steps even on an undefended model: more steps,
// restarts and losses break more (indicator 12 fires on that alone), which is not masking.
TEST_F(Masking, PlainCnnUnderL1ShowsNoEvidence) {
  MaskingOptions o = quick();
  o.threat = {Norm::L1, 8.0};
  o.points = 150;
  o.expensive_points = 60;
  const MaskingReport r = check(trained_cnn(false), std::nullopt, o);
  EXPECT_EQ(r.verdict, Verdict::NoEvidence) << summary(r);
  for (const auto& i : r.indicators) EXPECT_FALSE(i.fired && i.symptom) << i.id;
  EXPECT_LE(r.adaptive_accuracy, r.pgd_accuracy);
}

TEST_F(Masking, QuantisedInputIsMaskedAndBpdaBreaksIt) {
  const MaskingReport r = check(trained_cnn(false), test::quantise_front_end());
  EXPECT_EQ(r.verdict, Verdict::Masked) << summary(r);
  EXPECT_TRUE(fired(r, "broken-graph"));
  EXPECT_TRUE(fired(r, "zero-gradients"));
  EXPECT_GE(r.pgd_accuracy - r.adaptive_accuracy, 0.3) << summary(r);
}

// The same quantiser inside the model, where no --preprocess can split it off: the detector
// rewrites round() with a straight-through gradient itself.
TEST_F(Masking, QuantisationInsideTheModelIsBrokenByTheAutomaticRewrite) {
  torch::jit::Module defended("Defended");
  defended.register_module("net", trained_cnn(false));
  defended.define(
      "def forward(self, x):\n  return self.net.forward(torch.round(x * 15.0) / 15.0)\n");
  const MaskingReport r = check(defended);
  EXPECT_EQ(r.verdict, Verdict::Masked) << summary(r);
  EXPECT_NE(r.lowered_most_by.find("straight-through rewrite of 1 ops"), std::string::npos)
      << to_json(r)["retries"].dump(1);
}

TEST_F(Masking, LogitTemperatureIsMaskedAndTheMarginLossBreaksIt) {
  const MaskingReport r = check(test::temperature_wrapper(trained_cnn(false)));
  EXPECT_EQ(r.verdict, Verdict::Masked) << summary(r);
  EXPECT_TRUE(fired(r, "zero-gradients"));
  ASSERT_FALSE(r.retries.empty());
  EXPECT_EQ(r.retries.front().attack, "pgd --loss margin");
  EXPECT_GE(r.retries.front().broken, 10) << summary(r);
}

TEST_F(Masking, ThermometerEncodingIsMasked) {
  const MaskingReport r = check(trained_cnn(false), test::thermometer_front_end());
  EXPECT_EQ(r.verdict, Verdict::Masked) << summary(r);
  EXPECT_TRUE(fired(r, "broken-graph"));
}

TEST_F(Masking, ShatteredGradientsAreMasked) {
  const MaskingReport r = check(trained_cnn(false), test::shattering_front_end());
  EXPECT_EQ(r.verdict, Verdict::Masked) << summary(r);
  EXPECT_TRUE(fired(r, "shattered-gradients"));
}

TEST_F(Masking, RandomisedFrontEndIsMasked) {
  const MaskingReport r = check(trained_cnn(false), test::noise_front_end(0.15));
  EXPECT_TRUE(r.randomised);
  EXPECT_TRUE(fired(r, "randomness"));
  EXPECT_EQ(r.verdict, Verdict::Masked) << summary(r);
  // Lucky passes: PGD saw adversarial iterates that a majority vote does not confirm.
  EXPECT_GT(lost_iterates(r), 0) << summary(r);
}

TEST_F(Masking, AdversariallyTrainedCnnShowsNoEvidence) {
  const MaskingReport r = check(trained_cnn(true));
  EXPECT_EQ(r.verdict, Verdict::NoEvidence) << summary(r);
  EXPECT_GT(r.adaptive_accuracy, 0.3);
}

// No false alarms: honest robust models of other architectures, training lengths and methods.
// (Plain tests, not value-parameterised ones: ctest numbers those last, and without timings from
// an earlier run, as on CI's clean clone, it starts the longest of them at the very end.)
class MaskingHonest : public Masking {
 protected:
  void expect_no_evidence(Architecture arch, const std::string& method, int64_t epochs) {
    const MaskingReport r = check(trained(arch, method, epochs));
    EXPECT_EQ(r.verdict, Verdict::NoEvidence) << summary(r);
    for (const auto& i : r.indicators) EXPECT_FALSE(i.fired && i.symptom) << i.id;
  }
};

TEST_F(MaskingHonest, PgdTrainedCnnFiveEpochs) { expect_no_evidence(Architecture::Cnn, "pgd", 5); }
TEST_F(MaskingHonest, TradesTrainedCnn) { expect_no_evidence(Architecture::Cnn, "trades", 2); }
TEST_F(MaskingHonest, PgdTrainedLeNet) { expect_no_evidence(Architecture::LeNet, "pgd", 2); }
TEST_F(MaskingHonest, PgdTrainedMlp) { expect_no_evidence(Architecture::Mlp, "pgd", 2); }

}  // namespace
}  // namespace advtk
