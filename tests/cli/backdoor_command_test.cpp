// advtk backdoor from the command line: the Neural Cleanse evidence and the verdict with its exit
// code, STRIP's screen of --inputs, and a bad option as exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace advtk {
namespace {

TEST(BackdoorCommand, WritesTheNeuralCleanseEvidenceAndAVerdict) {
  const std::string data =
      " --data npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");
  test::TempDir tmp;
  ASSERT_EQ(
      test::run_advtk("train --arch cnn --epochs 0" + data + " --out " + tmp.file("m")).exit_code,
      0);
  const std::string out = tmp.file("b");
  const auto r = test::run_advtk(
      "backdoor " + tmp.file("m/model.pt") + data +
      " --nc-steps 5 --nc-batch 2 --strip-copies 4 --inputs npy:" + test::fixture("nchw_f64_x.npy") +
      "," + test::fixture("nchw_f64_y.npy") + " -q --out " + out);
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;
  const auto j = nlohmann::json::parse(test::read_bytes(out + "/backdoor.json"));
  EXPECT_EQ(j["verdict"], r.exit_code == 3 ? "backdoor" : "no-evidence");
  EXPECT_EQ(j["neural_cleanse"]["mask_norm"].size(), 5u);
  EXPECT_EQ(j["neural_cleanse"]["anomaly_index"].size(), 5u);
  EXPECT_TRUE(std::filesystem::exists(out + "/triggers.png"));
  EXPECT_EQ(j["strip"]["screened"], 3);
  EXPECT_EQ(j["strip"]["entropy"].size(), 3u);
  const auto bad =
      test::run_advtk("backdoor " + tmp.file("m/model.pt") + data + " --nc-steps 0 --out " + out);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

}  // namespace
}  // namespace advtk
