// advtk attack --shard i/n and advtk merge: the parts of jobs that never talk join into the
// outputs of the unsharded run, bit for bit apart from timings; wrong parts are refused by name.
#include <gtest/gtest.h>

#include "cli/attack_shard.h"
#include "cli/cli_cnn.h"
#include "cli/same_outputs.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;
using test::TempDir;

TEST(AttackShard, ParsesIOfN) {
  EXPECT_EQ(cli::parse_shard("0/1"), (std::pair<int, int>{0, 1}));
  EXPECT_EQ(cli::parse_shard("2/3"), (std::pair<int, int>{2, 3}));
  for (const char* bad : {"3/3", "-1/2", "1", "1/", "/2", "a/b", "1/2x", "0/0"})
    EXPECT_NE(test::error_of([&] { cli::parse_shard(bad); }).find("--shard: expected i/n"),
              std::string::npos)
        << bad;
}

class AttackShardRun : public test::CliCnnTest {
 protected:
  static std::string attack(const std::string& extra) {
    return "attack '" + model() +
           "' --data fashion-mnist --limit 60 --batch-size 8 --threads 1 --quiet " + extra;
  }
};

TEST_F(AttackShardRun, ThreePartsMergeIntoTheUnshardedRun) {
  TempDir out;
  for (const std::string run : {"--attack pgd --steps 10 --eps 0.05", "--attack deepfool"}) {
    const auto one = run_advtk(attack(run + " --out '" + out.file("one") + "' --force"));
    ASSERT_EQ(one.exit_code, 0) << one.err;
    for (int i = 0; i < 3; ++i) {
      const auto part = run_advtk(attack(run + " --shard " + std::to_string(i) + "/3 --out '" +
                                         out.file("part-" + std::to_string(i)) + "' --force"));
      ASSERT_EQ(part.exit_code, 0) << part.err;
      EXPECT_NE(part.out.find("part " + std::to_string(i) + " of 3"), std::string::npos);
    }
    // In any order.
    const auto merged =
        run_advtk("merge '" + out.file("part-2") + "' '" + out.file("part-0") + "' '" +
                  out.file("part-1") + "' --out '" + out.file("merged") + "' --force");
    ASSERT_EQ(merged.exit_code, 0) << merged.err;
    test::expect_same_outputs(out.file("one"), out.file("merged"));
  }
}

TEST_F(AttackShardRun, WrongPartsAreRefusedByName) {
  TempDir out;
  const std::string pgd = "--attack pgd --steps 5 --eps 0.05";
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(run_advtk(attack(pgd + " --shard " + std::to_string(i) + "/2 --out '" +
                               out.file("p" + std::to_string(i)) + "'"))
                  .exit_code,
              0);
  ASSERT_EQ(
      run_advtk(attack(pgd + " --seed 1 --shard 1/2 --out '" + out.file("seed1") + "'")).exit_code,
      0);
  const auto merge = [&](const std::string& parts) {
    return run_advtk("merge " + parts + " --out '" + out.file("merged") + "'");
  };
  const auto expect_refused = [&](const test::CommandResult& r, const std::string& message) {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  };
  const std::string p0 = "'" + out.file("p0") + "'", p1 = "'" + out.file("p1") + "'";
  expect_refused(merge(p0), "error: part 1 of 2 is missing (1 given)");
  expect_refused(merge(p0 + " " + p0), "are both part 0");
  expect_refused(merge(p0 + " '" + out.file("seed1") + "'"), "are parts of different runs");
  expect_refused(merge(p0 + " '" + out.file("nowhere") + "'"), "has no shard.json");
  expect_refused(run_advtk(attack("--attack pgd --eps 0.05,0.1 --shard 0/2 --out '" +
                                  out.file("sweep") + "'")),
                 "error: --shard: one budget per job (--eps E)");
  expect_refused(run_advtk(attack(pgd + " --shard 2/2 --out '" + out.file("bad") + "'")),
                 "error: --shard: expected i/n with 0 <= i < n");
  // A part's x_adv rows cut short, or gone.
  std::filesystem::copy(out.file("p1"), out.file("cut"));
  auto rows = test::read_bytes(out.file("cut/x_adv.npy"));
  rows.resize(rows.size() - 100);
  test::write_bytes(out.file("cut/x_adv.npy"), rows);
  expect_refused(merge(p0 + " '" + out.file("cut") + "'"), "x_adv.npy: shape ");
  std::filesystem::remove(out.file("cut/x_adv.npy"));
  expect_refused(merge(p0 + " '" + out.file("cut") + "'"), "x_adv.npy: cannot open file");
  EXPECT_FALSE(std::filesystem::exists(out.file("merged")));
  EXPECT_FALSE(std::filesystem::exists(out.file("bad")));
  // The parts merge once all are there.
  EXPECT_EQ(merge(p1 + " " + p0).exit_code, 0);
}

}  // namespace
}  // namespace advtk
