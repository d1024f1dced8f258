#include "data/cifar10_reader.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;
using test::TempDir;

// `n` records; record r has label labels[r] and pixel p (in R,G,B plane order) = (r + p) mod 256.
std::vector<unsigned char> records(const std::vector<unsigned char>& labels) {
  std::vector<unsigned char> b;
  for (size_t r = 0; r < labels.size(); ++r) {
    b.push_back(labels[r]);
    for (int p = 0; p < 3072; ++p) b.push_back(static_cast<unsigned char>((r + p) % 256));
  }
  return b;
}

TEST(Cifar10Reader, ReadsPlanesAsChannels) {
  TempDir dir;
  test::write_bytes(dir.file("test_batch.bin"), records({3, 9}));
  const Dataset d = load_cifar10(dir.path().string(), Split::Test);
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 3, 32, 32}));
  EXPECT_EQ(d.labels[0].item<int64_t>(), 3);
  EXPECT_EQ(d.labels[1].item<int64_t>(), 9);
  // Record 1, green plane (offset 1024), row 2, column 5: p = 1024 + 69, value (1 + p) mod 256.
  EXPECT_FLOAT_EQ(d.images[1][1][2][5].item<float>(), ((1 + 1024 + 69) % 256) / 255.0f);
  EXPECT_EQ(d.class_names.size(), 10u);
  EXPECT_EQ(d.class_names[9], "truck");
}

TEST(Cifar10Reader, TrainSplitConcatenatesFiveBatchesAndReadsMeta) {
  TempDir dir;
  const auto sub = dir.path() / "cifar-10-batches-bin";
  for (int i = 1; i <= 5; ++i)
    test::write_bytes((sub / ("data_batch_" + std::to_string(i) + ".bin")).string(),
                      records({static_cast<unsigned char>(i)}));
  test::write_bytes((sub / "test_batch.bin").string(), records({0}));
  const std::string meta = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
  test::write_bytes((sub / "batches.meta.txt").string(), {meta.begin(), meta.end()});
  const Dataset d = load_cifar10(dir.path().string(), Split::Train);
  ASSERT_EQ(d.size(), 5);
  EXPECT_EQ(d.labels[4].item<int64_t>(), 5);
  EXPECT_EQ(d.class_names[2], "c");
}

TEST(Cifar10Reader, RejectsTruncatedRecordsAndBadLabels) {
  TempDir dir;
  auto bytes = records({1, 2});
  bytes.pop_back();
  test::write_bytes(dir.file("cut.bin"), bytes);
  EXPECT_NE(error_of([&] { load_cifar10_batch(dir.file("cut.bin")); }).find("truncated"),
            std::string::npos);
  test::write_bytes(dir.file("label.bin"), records({1, 10}));
  EXPECT_NE(error_of([&] { load_cifar10_batch(dir.file("label.bin")); }).find("label 10"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { load_cifar10(dir.file("nothing"), Split::Test); }).find("not a directory"),
      std::string::npos);
}

}  // namespace
}  // namespace advtk
