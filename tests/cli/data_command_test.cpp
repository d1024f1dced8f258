// advtk data end to end: the summary of a data source.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;

TEST(DataCommand, DataSummarisesASource) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto r = run_advtk("data --json --limit 100 --offset 50");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("examples"), 100);
  EXPECT_EQ(j.at("shape"), nlohmann::json({1, 28, 28}));
  int64_t total = 0;
  for (const auto& c : j.at("class_counts")) total += c.get<int64_t>();
  EXPECT_EQ(total, 100);
}

// --save writes float32 NCHW images in [0, 1] and int64 labels: here uint8 NHWC pixels ÷ 255,
// which --data npy: reads back to the same summary; a file already there is never replaced.
TEST(DataCommand, SaveWritesTheSelectionAsAnNpyPairThatReadsBackTheSame) {
  test::TempDir dir;
  const std::string source = "--data npy:'" + test::fixture("nhwc_u8_x.npy") + "','" +
                             test::fixture("nhwc_u8_y.npy") + "'";
  const std::string pair = dir.file("x.npy") + "," + dir.file("y.npy");
  const auto saved = run_advtk("data --json " + source + " --offset 1 --save '" + pair + "'");
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  const torch::Tensor bytes = read_npy(test::fixture("nhwc_u8_x.npy")).slice(0, 1);
  const torch::Tensor x = read_npy(dir.file("x.npy"));
  ASSERT_EQ(x.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(x, bytes.permute({0, 3, 1, 2}).to(torch::kFloat) / 255));
  EXPECT_TRUE(torch::equal(read_npy(dir.file("y.npy")),
                           read_npy(test::fixture("nhwc_u8_y.npy")).slice(0, 1).to(torch::kLong)));
  const auto again =
      run_advtk("data --json --data npy:'" + dir.file("x.npy") + "','" + dir.file("y.npy") + "'");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto first = nlohmann::json::parse(saved.out), second = nlohmann::json::parse(again.out);
  for (const char* key :
       {"examples", "shape", "class_counts", "pixel_min", "pixel_max", "pixel_mean"})
    EXPECT_EQ(first.at(key), second.at(key)) << key;
  const auto before = test::read_bytes(dir.file("x.npy"));
  const auto taken = run_advtk("data " + source + " --save '" + pair + "'");
  EXPECT_EQ(taken.exit_code, 2);
  EXPECT_NE(taken.err.find("exists already"), std::string::npos) << taken.err;
  EXPECT_EQ(test::read_bytes(dir.file("x.npy")), before);
  const auto one = run_advtk("data " + source + " --save '" + dir.file("z.npy") + "'");
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_NE(one.err.find("expected IMAGES.npy,LABELS.npy"), std::string::npos) << one.err;
}

}  // namespace
}  // namespace advtk
