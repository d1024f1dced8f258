// advtk attack end to end: the example set it writes, ensembles, transfer, bad options.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

TEST(AttackCommand, AttackWritesAnExampleSetThatEvaluatesToItsRobustAccuracy) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(run_advtk("train --arch mlp --epochs 1 --limit 2000 --val-size 100 --out '" + run + "'")
                .exit_code,
            0);
  const std::string out = dir.file("atk");
  const auto atk =
      run_advtk("attack '" + run +
                "/model.pt' --limit 100 --attack pgd --eps 0.05 --steps 10 --out '" + out + "'");
  ASSERT_EQ(atk.exit_code, 0) << atk.err;
  for (const char* f :
       {"adversarial.pt", "x_adv.npy", "y.npy", "examples.csv", "summary.json", "grid.png"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  const auto summary = nlohmann::json::parse(test::read_bytes(out + "/summary.json"));
  for (const char* key :
       {"clean_accuracy", "robust_accuracy", "success_rate", "median_l2", "median_linf", "seconds",
        "forward_calls", "backward_calls", "eps", "seed", "versions"})
    EXPECT_TRUE(summary.contains(key)) << key;
  // The set loads back as data (its x_adv), and the model's accuracy on it is the robust accuracy.
  const auto eval =
      run_advtk("eval '" + run + "/model.pt' --json --data pt:'" + out + "/adversarial.pt'");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(eval.out).at("accuracy").get<double>(),
                   summary.at("robust_accuracy").get<double>());
  EXPECT_EQ(run_advtk("attack '" + run + "/model.pt' --limit 10 --attack pgd").exit_code,
            2);  // no --eps
  EXPECT_EQ(run_advtk("attack '" + run + "/model.pt' --limit 10 --attack cw --norm linf").exit_code,
            2);
  EXPECT_EQ(run_advtk("attack '" + run + "/model.pt' --limit 10 --attack nope --eps 0.1").exit_code,
            2);

  // An ensemble says which attack broke each example; with --surrogate it is a transfer attack.
  const std::string suite = dir.file("suite");
  const auto ens =
      run_advtk("attack '" + run + "/model.pt' --limit 50 --attack apgd,noise " +
                "--steps 10 --eps 0.05 --surrogate '" + run + "/model.pt' --out '" + suite + "'");
  ASSERT_EQ(ens.exit_code, 0) << ens.err;
  const auto ens_summary = nlohmann::json::parse(test::read_bytes(suite + "/summary.json"));
  ASSERT_EQ(ens_summary.at("attacks").size(), 2u);
  EXPECT_EQ(ens_summary.at("attack"), "transfer:apgd,noise");
  const auto csv = test::read_bytes(suite + "/examples.csv");
  EXPECT_NE(std::string(csv.begin(), csv.end()).find(",broken_by\n"), std::string::npos);
  for (const std::string& bad : std::vector<std::string>{
           "--attack autoattack-max --eps 0.1", "--attack pgd --eps 0.1 --bpda",
           "--attack pgd --eps 0.1 --preprocess '" + dir.file("none.pt") + "'",
           "--attack pgd --eps 0.1 --eot 0", "--attack fab --eps 0.1 --eot 5",
           "--attack apgd,cw --eps 0.1", "--attack deepfool --norm l1 --eps 0.1",
           "--attack cw --initial-const big", "--attack cw --initial-const -1",
           "--attack pgd --eps 0.1 --surrogate '" + dir.file("none.pt") + "'"}) {
    const auto r = run_advtk("attack '" + run + "/model.pt' --limit 10 " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
  }
  // The declarations decide: a value outside its range, an option the attack does not read, an
  // option given to a preset — each one line naming the flag.
  for (const auto& [bad, says] : std::vector<std::pair<std::string, std::string>>{
           {"--attack pgd --eps 0.1 --steps 0", "--steps: expected at least 1, got 0"},
           {"--attack square --eps 0.1 --p-init 1.5", "--p-init: expected a value in (0, 1]"},
           {"--attack pgd --eps 0.1 --queries 10",
            "--queries: pgd has no such option (read by square)"},
           {"--attack autoattack --eps 0.1 --steps 10", "autoattack runs its reference parameters"},
           {"--attack pgd --eps 0.1 --loss hinge", "--loss: expected one of ce, margin"},
           {"--attack pgd --eps 0.1 --steps 2.5", "--steps: expected an integer, got '2.5'"}}) {
    const auto r = run_advtk("attack '" + run + "/model.pt' --limit 10 " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find(says), std::string::npos) << bad << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
  }
  // The minimum-norm FMN from the CLI, with its own option, and its distances at the budgets.
  const auto fmn = run_advtk("attack '" + run + "/model.pt' --limit 20 --attack fmn --norm linf " +
                             "--eps 0.05,0.1 --alpha-init 2 --out '" + dir.file("fmn") + "'");
  ASSERT_EQ(fmn.exit_code, 0) << fmn.err;
  const auto fmn_summary =
      nlohmann::json::parse(test::read_bytes(dir.file("fmn") + "/summary.json"));
  EXPECT_DOUBLE_EQ(fmn_summary.at("alpha_init").get<double>(), 2.0);
  EXPECT_EQ(fmn_summary.at("robust_accuracy_at").size(), 2u) << fmn_summary.dump();
}

}  // namespace
}  // namespace advtk
