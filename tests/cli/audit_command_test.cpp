// advtk audit end to end: the reports it writes, the CI gate on resume, and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

TEST(AuditCommand, AuditWritesTheReportsAndGatesACiPipeline) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  TempDir dir;
  const std::string run = dir.file("run"), out = dir.file("audit");
  ASSERT_EQ(run_advtk("train --arch mlp --epochs 1 --limit 2000 --val-size 100 --quiet --out '" +
                      run + "'")
                .exit_code,
            0);
  const std::string audit =
      "audit '" + run + "/model.pt' --budget quick --quiet --out '" + out + "'";
  const auto first = run_advtk(audit);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("worst case"), std::string::npos) << first.out;
  for (const char* file : {"report.json", "report.md", "report.html", "fragile.png"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + file)) << file;
  const auto report = nlohmann::json::parse(test::read_bytes(out + "/report.json"));
  EXPECT_EQ(report["data"]["examples"], 200);  // the quick budget's default --limit
  EXPECT_EQ(report["model"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(report["gate"]["exit_code"], 0);
  const double robust = report["main_robust_accuracy"].get<double>();
  EXPECT_LT(robust, report["clean_accuracy"].get<double>());

  // The gate, read from the saved stages: no attack runs again.
  const auto gated = run_advtk(audit + " --resume --fail-under 99%");
  EXPECT_EQ(gated.exit_code, 3) << gated.err;
  const auto again = nlohmann::json::parse(test::read_bytes(out + "/report.json"));
  EXPECT_EQ(again["main_robust_accuracy"].get<double>(), robust);
  EXPECT_EQ(again["gate"]["passed"], false);
  EXPECT_EQ(run_advtk(audit + " --resume --fail-under 0.01").exit_code, robust >= 0.01 ? 0 : 3);

  // Bad input: one line, exit 2, and the finished audit is left alone.
  for (const std::string& bad : std::vector<std::string>{
           "", "--resume --skip everything", "--resume --fail-under 150", "--resume --eps -0.1",
           "--resume --norm l3", "--resume --eps 0.3"}) {
    const auto e = run_advtk(audit + " " + bad);
    EXPECT_EQ(e.exit_code, 2) << bad << ": " << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << bad << ": " << e.err;
  }
  {
    const std::string bad = "--budget huge";
    const auto e =
        run_advtk("audit '" + run + "/model.pt' --quiet --resume --out '" + out + "' " + bad);
    EXPECT_EQ(e.exit_code, 2) << bad << ": " << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << bad << ": " << e.err;
  }
  EXPECT_EQ(nlohmann::json::parse(test::read_bytes(out + "/report.json"))["main_robust_accuracy"],
            robust);
  EXPECT_EQ(run_advtk("audit '" + dir.file("none.pt") + "' --quiet").exit_code, 2);
}

}  // namespace
}  // namespace advtk
