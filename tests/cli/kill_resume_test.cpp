// Kill and resume: `advtk audit` ended by SIGKILL inside an attack stage, between stages and
// while writing the report (ADVTK_KILL_AT, cli/kill_point.h), then resumed, ends with the report
// of an uninterrupted run figure for figure; `advtk train` killed mid-epoch and between epochs
// ends with the uninterrupted run's model; `advtk attack` failing after a batch keeps it for the
// resume. No result file is ever half-written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "cli/same_outputs.h"
#include "test_util.h"
#include "without_timings.h"

namespace advtk {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const std::string& path) {
  const auto bytes = test::read_bytes(path);
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

// Every JSON result under `dir` parses: a kill never leaves one half-written.
void expect_whole_json_files(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".json")
      EXPECT_NO_THROW(read_json(e.path().string())) << e.path() << " is half-written";
}

// Runs `command` into `out` once per kill point (with --resume after the first run when asked),
// each ended by SIGKILL at its point; every JSON result stays whole.
void kill_in_turn(const std::string& command, const std::string& out,
                  const std::vector<std::pair<std::string, bool>>& points) {
  for (const auto& [point, resume] : points) {
    setenv("ADVTK_KILL_AT", point.c_str(), 1);
    const auto r = test::run_advtk(command + out + (resume ? " --resume" : ""));
    unsetenv("ADVTK_KILL_AT");
    EXPECT_TRUE(r.exit_code == 128 + SIGKILL || r.exit_code == -1)
        << point << ": exit " << r.exit_code << "\n"
        << r.err;
    expect_whole_json_files(out);
  }
}

// The zoo MLP trained for an epoch on 2,000 images into `tmp`: its model file ("" if it failed).
std::string trained_mlp(const test::TempDir& tmp) {
  const auto r =
      test::run_advtk("train --arch mlp --limit 2000 --epochs 1 -q --out " + tmp.file("m"));
  return r.exit_code == 0 ? tmp.file("m/model.pt") : "";
}

TEST(KillAndResume, AKilledAuditResumesToTheReportOfAnUninterruptedOne) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir tmp;
  const std::string model = trained_mlp(tmp);
  ASSERT_FALSE(model.empty());
  // Batches of 8 over 24 examples: three saves per attack stage after the clean stage's, so save 2
  // lands inside the first attack and attack-square/batch-2 ends the last attack stage.
  const std::string audit = "audit " + model +
                            " --data fashion-mnist --limit 24 --budget quick --batch-size 8 "
                            "--eps 0.05 -q --skip masking,sharpness,leakage,backdoor --out ";
  const auto whole = test::run_advtk(audit + tmp.file("whole"));
  ASSERT_TRUE(whole.exit_code == 0 || whole.exit_code == 3) << whole.err;

  const std::string resumed = tmp.file("resumed");
  kill_in_turn(audit, resumed,
               {{"save:2", false}, {"after:attack-square/batch-2", true}, {"report", true}});
  EXPECT_TRUE(fs::exists(resumed + "/report.json"));  // the last kill fell inside the report
  EXPECT_FALSE(fs::exists(resumed + "/report.md"));
  const auto last = test::run_advtk(audit + resumed + " --resume");
  EXPECT_EQ(last.exit_code, whole.exit_code) << last.err;
  EXPECT_EQ(test::without_timings(read_json(resumed + "/report.json")),
            test::without_timings(read_json(tmp.file("whole/report.json"))));
  EXPECT_TRUE(fs::exists(resumed + "/report.md") && fs::exists(resumed + "/report.html"));
}

// An attack that fails with an error after its first batch (ADVTK_KILL_WITH=error stands for a
// full disk) keeps that batch in OUT/store and writes nothing else; --resume attacks the rest and
// writes what an uninterrupted run writes.
TEST(KillAndResume, AnAttackThatFailsAfterABatchKeepsItForTheResume) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir tmp;
  const std::string model = trained_mlp(tmp);
  ASSERT_FALSE(model.empty());
  const std::string attack = "attack " + model +
                             " --data fashion-mnist --limit 24 --attack pgd --steps 5 --eps 0.05 "
                             "--batch-size 8 -q --out ";
  ASSERT_EQ(test::run_advtk(attack + tmp.file("whole")).exit_code, 0);
  const std::string resumed = tmp.file("resumed");
  const auto failed =
      test::run_advtk(attack + resumed, "ADVTK_KILL_AT=batch:1 ADVTK_KILL_WITH=error");
  EXPECT_EQ(failed.exit_code, 2) << failed.err;
  EXPECT_EQ(std::count(failed.err.begin(), failed.err.end(), '\n'), 1) << failed.err;
  EXPECT_NE(failed.err.find("ADVTK_KILL_AT=batch:1"), std::string::npos) << failed.err;
  EXPECT_TRUE(fs::exists(resumed + "/store/budget-0/batch-0.pt"));
  EXPECT_FALSE(fs::exists(resumed + "/summary.json"));
  const auto again = test::run_advtk(attack + resumed + " --resume");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  test::expect_same_outputs(tmp.file("whole"), resumed);
  EXPECT_FALSE(fs::exists(resumed + "/store"));
}

// Every number of two JSON documents within `tolerance` (relative), timings aside.
void expect_close(const nlohmann::json& a, const nlohmann::json& b, double tolerance,
                  const std::string& where = "") {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), tolerance * (1 + std::abs(y))) << where << ": " << x << " vs " << y;
    return;
  }
  ASSERT_EQ(a.type(), b.type()) << where;
  if (a.is_object()) {
    for (const auto& [k, v] : a.items())
      if (k != "seconds") expect_close(v, b.at(k), tolerance, where + "/" + k);
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << where;
    for (size_t i = 0; i < a.size(); ++i)
      expect_close(a[i], b[i], tolerance, where + "/" + std::to_string(i));
  } else {
    EXPECT_EQ(a, b) << where;
  }
}

// Killed inside its second epoch, then right after the second epoch's checkpoint, then resumed
// to the end: the history and the model of an uninterrupted run (to float rounding: a resumed
// process runs its first steps on another JIT plan, README).
TEST(KillAndResume, AKilledTrainingResumesToTheModelOfAnUninterruptedOne) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir tmp;
  // 3,000 images in batches of 50: a progress report every 10 of an epoch's 60 batches.
  const std::string train = "train --arch mlp --limit 3000 --epochs 3 --batch-size 50 -q --out ";
  ASSERT_EQ(test::run_advtk(train + tmp.file("whole")).exit_code, 0);
  const std::string resumed = tmp.file("resumed");
  kill_in_turn(train, resumed, {{"in-epoch:2", false}, {"epoch:2", true}});
  ASSERT_EQ(test::run_advtk(train + resumed + " --resume").exit_code, 0);
  expect_close(read_json(resumed + "/history.json"), read_json(tmp.file("whole/history.json")),
               1e-5);
  const auto eval = [&](const std::string& dir) {
    const auto r = test::run_advtk("eval " + dir + "/model.pt --limit 500 --json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    j.erase("model");  // the path
    return j;
  };
  expect_close(eval(resumed), eval(tmp.file("whole")), 1e-5);
}

}  // namespace
}  // namespace advtk
