// The audit runner: an interrupted-and-resumed audit ends with exactly the numbers of an
// uninterrupted one, the report's figures are consistent, and the HTML is well-formed.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "attacks/apgd.h"
#include "attacks/attack_runner.h"
#include "attacks/attack_test_util.h"
#include "attacks/iterative_attack.h"
#include "attacks/transfer.h"
#include "audit/audit.h"
#include "audit/report.h"
#include "diagnostics/masking_support.h"
#include "diagnostics/straight_through.h"
#include "eval/batched.h"
#include "eval/evaluation.h"
#include "test_util.h"
#include "without_timings.h"

namespace advtk {
namespace {

// Softmax regression fitted to Fashion-MNIST for a few hundred full-batch steps (~80% clean).
Model fitted_affine(const Dataset& train) {
  torch::Tensor w = torch::zeros({10, 784}, torch::requires_grad());
  torch::Tensor b = torch::zeros({10}, torch::requires_grad());
  torch::optim::SGD sgd({w, b}, torch::optim::SGDOptions(0.5));
  const torch::Tensor x = train.images.flatten(1);
  for (int step = 0; step < 150; ++step) {
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(torch::addmm(b, x, w.t()), train.labels).backward();
    sgd.step();
  }
  return test::affine_model(w.detach().clone(), b.detach().clone());
}

AuditPlan tiny_plan() {
  AuditPlan p = audit_plan(AuditBudget::Quick);
  p.pgd_steps = 5;
  p.apgd_steps = 10;
  p.target_classes = 2;
  p.square_queries = 100;
  p.deepfool_examples = 64;
  p.cw_examples = 16;
  p.cw_binary_steps = 2;
  p.cw_steps = 10;
  p.masking_points = 24;
  p.masking_expensive_points = 8;
  p.masking_pgd_steps = 5;
  p.masking_apgd_steps = 10;
  p.masking_queries = 100;
  p.masking_noise_draws = 100;
  p.numerical_examples = 32;
  p.sharpness_examples = 32;
  p.sharpness_iterations = 5;
  p.sharpness_pairs = 2;
  return p;
}

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }
  AuditOptions options(const std::string& out) const {
    AuditOptions o;
    o.budget = AuditBudget::Quick;
    o.plan = tiny_plan();
    o.batch_size = 16;  // four batches per attack: interruptions land inside stages
    o.seed = 7;
    o.out = out;
    o.model_info = {{"path", "affine"}};
    return o;
  }
};

TEST_F(AuditTest, ResumedAuditEndsWithTheNumbersOfAnUninterruptedOne) {
  const Model model = fitted_affine(test::fashion(Split::Train, 2000));
  const Dataset data = test::fashion(Split::Test, 64);
  test::TempDir dir;
  const AuditResult whole = run_audit(model, data, options(dir.file("whole")));

  // Killed inside the second attack's batches, then right after the masking stage, then
  // finished: each run reads back what the earlier ones saved.
  int saves = 0;
  std::vector<std::string> names;
  for (int stop_at : {6, 27}) {
    AuditOptions o = options(dir.file("resumed"));
    o.resume = stop_at != 6;
    EXPECT_THROW(run_audit(model, data, o, {},
                           [&](const std::string& name) {
                             names.push_back(name);
                             if (++saves == stop_at) throw Interrupted();
                           }),
                 Interrupted);
  }
  AuditOptions o = options(dir.file("resumed"));
  o.resume = true;
  int later = 0;
  const AuditResult resumed = run_audit(model, data, o, {}, [&](const std::string&) { ++later; });
  EXPECT_GT(later, 0);
  EXPECT_LT(later, saves);  // the finished work was not redone
  EXPECT_EQ(test::without_timings(resumed.report), test::without_timings(whole.report));
  EXPECT_EQ(resumed.files, whole.files);

  // A finished audit resumes without any work.
  int again = 0;
  run_audit(model, data, o, {}, [&](const std::string&) { ++again; });
  EXPECT_EQ(again, 0);
}

TEST_F(AuditTest, RefusesToOverwriteOrToResumeWithOtherSettings) {
  const Model model = fitted_affine(test::fashion(Split::Train, 500));
  const Dataset data = test::fashion(Split::Test, 16);
  test::TempDir dir;
  AuditOptions o = options(dir.file("a"));
  o.skip = {"masking", "sharpness", "min-norm"};
  run_audit(model, data, o);
  EXPECT_NE(test::error_of([&] { run_audit(model, data, o); }).find("--resume"), std::string::npos);
  o.resume = true;
  o.eps = {0.3};
  EXPECT_NE(test::error_of([&] { run_audit(model, data, o); }).find("settings"), std::string::npos);
}

TEST_F(AuditTest, ReportFiguresAreConsistentAndTheHtmlIsWellFormed) {
  const Model model = fitted_affine(test::fashion(Split::Train, 2000));
  const Dataset data = test::fashion(Split::Test, 64);
  test::TempDir dir;
  const AuditResult result = run_audit(model, data, options(dir.file("r")));
  const nlohmann::json& r = result.report;
  for (const char* key : {"model", "data", "clean_accuracy", "attacks", "worst_case", "min_norm",
                          "masking", "numerical", "sharpness", "environment"})
    EXPECT_TRUE(r.contains(key)) << key;
  const double clean = r["clean_accuracy"].get<double>();
  EXPECT_GT(clean, 0.6);
  EXPECT_EQ(r["settings"]["eps"], nlohmann::json({0.05, 0.1, 0.2}));  // grey 28×28 defaults
  EXPECT_EQ(r["main_eps"].get<double>(), 0.1);
  double previous = 1.0;
  for (const auto& w : r["worst_case"]) {
    const double worst = w["robust_accuracy"].get<double>();
    EXPECT_LE(worst, clean);
    EXPECT_LE(worst, previous);  // never rises with the budget
    previous = worst;
    int attacks = 0;
    for (const auto& a : r["attacks"]) {
      if (a["eps"] != w["eps"]) continue;
      ++attacks;
      EXPECT_LE(worst, a["robust_accuracy"].get<double>()) << a["attack"];
      EXPECT_LE(a["robust_accuracy"].get<double>(), clean);
    }
    EXPECT_EQ(attacks, 5);  // fgsm, pgd, apgd, apgd-t, square
    for (size_t c = 0; c < w["per_class_robust_accuracy"].size(); ++c) {
      const auto& rc = w["per_class_robust_accuracy"][c];
      if (rc.is_number())
        EXPECT_LE(rc.get<double>(), r["clean"]["per_class_accuracy"][c].get<double>());
    }
  }
  ASSERT_EQ(r["min_norm"].size(), 2u);
  // DeepFool ran on every example in the audit's norm: its within-budget breaks are part of the
  // worst case, so the worst case is at or below its robust accuracy at each budget.
  ASSERT_EQ(r["min_norm"][0]["examples"], 64);
  for (size_t e = 0; e < r["worst_case"].size(); ++e) {
    EXPECT_LE(r["worst_case"][e]["robust_accuracy"].get<double>(),
              r["min_norm"][0]["robust_accuracy_at"][e]["robust_accuracy"].get<double>());
    const auto& by = r["worst_case"][e]["broken_by"];
    EXPECT_TRUE(by.contains("deepfool") && by.contains("cw"));
    EXPECT_EQ(by.contains("masking-check"), r["worst_case"][e]["eps"] >= r["main_eps"]);
    EXPECT_TRUE(r["worst_case"][e]["confirmation_vote"].is_null());  // a deterministic model
  }
  EXPECT_LE(r["min_norm"][0]["q1"].get<double>(), r["min_norm"][0]["median"].get<double>());
  EXPECT_EQ(r["masking"]["verdict"], "no-evidence");
  EXPECT_TRUE(r["numerical"]["flags"].empty());
  EXPECT_GT(r["sharpness"]["top_hessian_eigenvalue"].get<double>(), 0.0);  // convex: H ⪰ 0
  ASSERT_EQ(result.files.count("fragile.png"), 1u);

  const std::string html = render_html(build_report(r, result.files), "t", result.files);
  EXPECT_NE(html.find("alt=\"originals and their reconstructions"), std::string::npos);
  // Well-formed: every non-void element closes in order.
  static const std::set<std::string> kVoid = {"meta", "img", "br"};
  std::vector<std::string> open;
  for (size_t i = html.find('<'); i != std::string::npos; i = html.find('<', i + 1)) {
    if (html.compare(i, 2, "<!") == 0) continue;
    const size_t end = html.find('>', i);
    ASSERT_NE(end, std::string::npos);
    const bool closing = html[i + 1] == '/';
    const bool self_closing = html[end - 1] == '/';
    std::string tag = html.substr(i + (closing ? 2 : 1), end - i - (closing ? 2 : 1));
    tag = tag.substr(0, tag.find_first_of(" />"));
    if (closing) {
      ASSERT_FALSE(open.empty()) << "</" << tag << "> closes nothing";
      ASSERT_EQ(open.back(), tag);
      open.pop_back();
    } else if (!self_closing && !kVoid.count(tag)) {
      open.push_back(tag);
    }
  }
  EXPECT_TRUE(open.empty());
  size_t charts = 0;
  for (size_t i = html.find("<svg"); i != std::string::npos; i = html.find("<svg", i + 1)) ++charts;
  EXPECT_GE(charts, 3u);  // accuracy vs budget, per-class bars, min-norm histograms
  EXPECT_NE(html.find("data:image/png;base64,iVBORw0KGgo"), std::string::npos);  // PNG magic
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));      // nothing external
  const std::string md = render_markdown(build_report(r, result.files));
  EXPECT_NE(md.find("6. Gradient exposure"), std::string::npos);
  EXPECT_NE(md.find("](leakage.png)"), std::string::npos) << "the reconstructions' picture";
  EXPECT_NE(md.find("7. Training security"), std::string::npos);
  EXPECT_NE(md.find("](triggers.png)"), std::string::npos) << "the reverse-engineered triggers";
  EXPECT_NE(md.find("| trigger mask L1 (pixels) |"), std::string::npos);
  EXPECT_NE(md.find("| worst case |"), std::string::npos);
  EXPECT_NE(md.find("![the most fragile examples](fragile.png)"), std::string::npos);
}

// The fitted affine classifier behind a front end written into its forward.
// The fitted affine classifier's weights under another forward (`body`: its statements).
Model affine_with_forward(const Model& affine, const std::string& body) {
  torch::jit::Module m("Defended");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", affine.module().attr("w").toTensor(), false);
  m.register_parameter("b", affine.module().attr("b").toTensor(), false);
  m.define("def forward(self, x):\n" + body);
  return Model::wrap(m, {}, "defended");
}

Model defended_affine(const Model& affine, const std::string& front_end) {
  return affine_with_forward(
      affine, "    return torch.addmm(self.b, torch.flatten(" + front_end + ", 1), self.w.t())\n");
}

// Robust accuracy over all examples of `make` crafted on `crafted_on`, judged on `model` by a
// majority of `passes` (clean mistakes count as broken).
double robust_by_hand(const Model& model, const Model& crafted_on, const Dataset& data,
                      const AttackFactory& make, double eps, int64_t passes) {
  const EvaluationResult clean = evaluate(model, data, 64, 0, {}, passes);
  AttackRunOptions run;
  run.batch_size = 64;
  const AttackRun r = run_attack(
      model, data,
      [&](double e) -> std::unique_ptr<Attack> {
        if (&crafted_on == &model) return make(e);
        return std::make_unique<TransferAttack>(make(e), crafted_on);
      },
      {eps}, run)[0];
  const torch::Tensor broken = majority_misclassified(model, r.x_adv, data.labels, passes, 64);
  return (clean.majority_correct & ~broken).to(torch::kDouble).mean().item<double>();
}

// The headline is at or below every attack's own figure, and within 2 points of the adaptive
// attack run by hand: at most 2 above it, and (where `two_sided`) at most 2 below. Where the
// audit's own attacks are far stronger than the one by hand, only the upper bound applies.
void expect_headline_from_the_strongest(const nlohmann::json& r, double by_hand,
                                        bool two_sided = false) {
  const double headline = r["main_robust_accuracy"].get<double>();
  for (const auto& a : r["attacks"])
    if (a["eps"] == r["main_eps"])
      EXPECT_LE(headline, a["robust_accuracy"].get<double>()) << a["attack"];
  EXPECT_LE(headline, by_hand + 0.02 + 1e-9) << r["worst_case"].dump(1);
  if (two_sided) EXPECT_GE(headline, by_hand - 0.02 - 1e-9) << r["worst_case"].dump(1);
  std::printf("headline %.3f, by hand %.3f\n", headline, by_hand);
}

// A quantised front end: every gradient is zero, so the standard attacks (but Square) fail; the
// masking check's BPDA breaks its points, and the audit then runs BPDA on every example at every
// budget: the headline is BPDA's figure, not that of the attacks the defense fools.
TEST_F(AuditTest, AMaskedModelsHeadlineComesFromItsAdaptiveAttack) {
  const Model affine = fitted_affine(test::fashion(Split::Train, 2000));
  const Model model = defended_affine(affine, "torch.round(x * 15.0) / 15.0");
  const Dataset data = test::fashion(Split::Test, 64);
  test::TempDir dir;
  AuditOptions o = options(dir.file("q"));
  o.skip = {"min-norm", "sharpness"};
  const nlohmann::json r = run_audit(model, data, o).report;
  EXPECT_EQ(r["masking"]["verdict"], "masked") << r["masking"]["message"];
  ASSERT_TRUE(r["adaptive"]["ran"].get<bool>()) << r["adaptive"].dump(1);
  bool bpda = false;
  for (const auto& a : r["adaptive"]["attacks"])
    bpda = bpda || a["attack"].get<std::string>().find("bpda") != std::string::npos;
  EXPECT_TRUE(bpda) << r["adaptive"].dump(1);
  const auto& main = r["worst_case"][1];
  EXPECT_EQ(main["attack_sets"].back(), "adaptive");
  const Model rewritten =
      Model::wrap(straight_through_copy(model.module()).module, {}, "straight-through");
  IterativeAttackOptions pgd;
  pgd.steps = 20;
  const double bpda_by_hand = robust_by_hand(
      model, rewritten, data,
      [&](double e) {
        pgd.threat = {Norm::Linf, e};
        return make_pgd(pgd);
      },
      0.1, 1);
  expect_headline_from_the_strongest(r, bpda_by_hand, true);
  // Every budget got the adaptive attack, not only the main one.
  EXPECT_TRUE(r["worst_case"][0]["broken_by"].contains(
      "adaptive " + r["adaptive"]["attacks"][0]["step"].get<std::string>() + " " +
      r["adaptive"]["attacks"][0]["attack"].get<std::string>()));
}

// Gaussian input noise on every pass: the audit sees the randomness, judges every example by a
// majority of 51 passes, reports clean accuracy as an expectation and attacks with EOT.
TEST_F(AuditTest, ARandomisedModelIsJudgedByMajorityAndAttackedWithEot) {
  const Model affine = fitted_affine(test::fashion(Split::Train, 2000));
  const Model model = defended_affine(affine, "x + 0.2 * torch.randn_like(x)");
  const Dataset data = test::fashion(Split::Test, 100);
  test::TempDir dir;
  AuditOptions o = options(dir.file("n"));
  o.skip = {"min-norm", "sharpness"};
  torch::manual_seed(1);
  const nlohmann::json r = run_audit(model, data, o).report;
  EXPECT_TRUE(r["randomised"]["detected"].get<bool>());
  EXPECT_EQ(r["randomised"]["vote_passes"], 51);
  for (const auto& w : r["worst_case"]) {  // every claimed break put to a second vote
    EXPECT_EQ(w["confirmation_vote"]["passes"], 51);
    EXPECT_LE(w["confirmation_vote"]["confirmed"], w["confirmation_vote"]["claimed"]);
  }
  for (const auto& a : r["attacks"])
    if (a["attack"] != "square") EXPECT_EQ(a["parameters"]["eot"], 20) << a["attack"];
  IterativeAttackOptions pgd;
  pgd.steps = 20;
  pgd.eot = 20;
  pgd.early_stop = false;  // a noisy pass's lucky break is no reason to stop ascending
  const double pgd_by_hand = robust_by_hand(
      model, model, data,
      [&](double e) {
        pgd.threat = {Norm::Linf, e};
        return make_pgd(pgd);
      },
      0.1, 51);
  ApgdOptions apgd;
  apgd.steps = 50;
  apgd.eot = 20;
  const double apgd_by_hand = robust_by_hand(
      model, model, data,
      [&](double e) {
        apgd.threat = {Norm::Linf, e};
        return std::make_unique<Apgd>(apgd);
      },
      0.1, 51);
  std::printf("by hand: EOT-PGD %.3f, EOT-APGD %.3f\n", pgd_by_hand, apgd_by_hand);
  // Not far below either: the union of several attacks' majority votes gives no lucky breaks.
  expect_headline_from_the_strongest(r, std::min(pgd_by_hand, apgd_by_hand), true);
}

// Exploding gradients: the affine logits times exp(50·(mean(x) − 0.3)), a positive factor, so
// every decision is the affine model's while the gradient's size spans three orders of
// magnitude between dim and bright images and cross-entropy saturates. The audit's headline
// must still reach what a margin PGD finds on the affine model itself.
TEST_F(AuditTest, ExplodingGradientsDoNotHideTheRobustAccuracy) {
  const Model affine = fitted_affine(test::fashion(Split::Train, 2000));
  const Model model = affine_with_forward(
      affine,
      "    f = torch.flatten(x, 1)\n"
      "    z = torch.addmm(self.b, f, self.w.t())\n"
      "    return z * torch.exp(50.0 * (torch.mean(f, 1, keepdim=True) - 0.3))\n");
  const Dataset data = test::fashion(Split::Test, 64);
  test::TempDir dir;
  AuditOptions o = options(dir.file("x"));
  o.skip = {"min-norm", "sharpness"};
  const nlohmann::json r = run_audit(model, data, o).report;
  bool exploding = false;
  for (const auto& i : r["masking"]["indicators"])
    exploding = exploding || (i["id"] == "exploding-gradients" && i["fired"].get<bool>());
  EXPECT_TRUE(exploding) << r["masking"]["indicators"].dump(1);
  IterativeAttackOptions pgd;
  pgd.steps = 20;
  pgd.loss.kind = LossKind::Margin;
  const double truth = robust_by_hand(
      affine, affine, data,
      [&](double e) {
        pgd.threat = {Norm::Linf, e};
        return make_pgd(pgd);
      },
      0.1, 1);
  expect_headline_from_the_strongest(r, truth, true);
}

// Three classes: APGD-T's targeted DLR loss needs four, so APGD with the DLR loss stands in.
TEST_F(AuditTest, ThreeClassesReplaceApgdTAndSaySo) {
  Dataset train = test::fashion(Split::Train, 600), data = test::fashion(Split::Test, 32);
  train.labels = train.labels.remainder(3);
  data.labels = data.labels.remainder(3);
  train.class_names.clear();
  data.class_names.clear();
  torch::Tensor w = torch::zeros({3, 784}, torch::requires_grad());
  torch::Tensor b = torch::zeros({3}, torch::requires_grad());
  torch::optim::SGD sgd({w, b}, torch::optim::SGDOptions(0.5));
  for (int step = 0; step < 50; ++step) {
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(torch::addmm(b, train.images.flatten(1), w.t()),
                                         train.labels)
        .backward();
    sgd.step();
  }
  const Model model = test::affine_model(w.detach().clone(), b.detach().clone());
  test::TempDir dir;
  AuditOptions o = options(dir.file("k3"));
  o.skip = {"min-norm", "sharpness"};
  const nlohmann::json r = run_audit(model, data, o).report;
  ASSERT_EQ(r["skipped_attacks"].size(), 1u);
  EXPECT_EQ(r["skipped_attacks"][0]["replaced_by"], "apgd-dlr");
  bool dlr = false;
  for (const auto& a : r["attacks"]) {
    EXPECT_NE(a["attack"], "apgd-t");
    dlr = dlr || (a["attack"] == "apgd-dlr" && a["parameters"]["loss"] == "dlr");
  }
  EXPECT_TRUE(dlr);
  EXPECT_NE(render_markdown(build_report(r)).find("apgd-dlr runs instead"), std::string::npos);
}

// L1: APGD-CE and APGD-T with AutoAttack's 3ε/2ε/ε schedule, APGD-CE with its 5 restarts.
TEST_F(AuditTest, L1AuditsRunApgdWithAutoAttacksL1Schedule) {
  const Model model = fitted_affine(test::fashion(Split::Train, 500));
  const Dataset data = test::fashion(Split::Test, 16);
  test::TempDir dir;
  AuditOptions o = options(dir.file("l1"));
  o.norm = Norm::L1;
  o.eps = {5.0};
  o.skip = {"masking", "min-norm", "sharpness"};
  const nlohmann::json r = run_audit(model, data, o).report;
  int apgds = 0;
  for (const auto& a : r["attacks"]) {
    if (a["attack"] != "apgd" && a["attack"] != "apgd-t") continue;
    ++apgds;
    EXPECT_EQ(a["parameters"].value("large_reps", false), true) << a["attack"];
    if (a["attack"] == "apgd") EXPECT_EQ(a["parameters"]["restarts"], 5);
  }
  EXPECT_EQ(apgds, 2);
}

}  // namespace
}  // namespace advtk
