#include "data/dataset.h"

#include <gtest/gtest.h>

#include "data/data_source.h"
#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;

Dataset small(int64_t n) {
  Dataset d;
  d.images = torch::rand({n, 1, 2, 2});
  d.labels = torch::arange(n, torch::kLong) % 3;
  d.source = "small";
  return d;
}

TEST(Dataset, ValidateRejectsContractBreaches) {
  Dataset d = small(4);
  EXPECT_EQ(error_of([&] { validate_dataset(d); }), "(no error)");
  d.images[0][0][0][0] = std::numeric_limits<float>::infinity();
  EXPECT_NE(error_of([&] { validate_dataset(d); }).find("NaN or Inf"), std::string::npos);
  d = small(4);
  d.labels[2] = -1;
  EXPECT_NE(error_of([&] { validate_dataset(d); }).find("negative label"), std::string::npos);
  d = small(4);
  d.class_names = {"a", "b"};
  EXPECT_NE(error_of([&] { validate_dataset(d); }).find("label 2 out of range"), std::string::npos);
  d = small(4);
  d.labels = d.labels.slice(0, 0, 3);
  EXPECT_NE(error_of([&] { validate_dataset(d); }).find("4 images but 3 labels"),
            std::string::npos);
}

TEST(Dataset, SelectAppliesOffsetAndLimit) {
  const Dataset d = small(10);
  Selection s;
  s.offset = 7;
  s.limit = 5;
  const Dataset tail = select(d, s);
  ASSERT_EQ(tail.size(), 3);
  EXPECT_TRUE(torch::equal(tail.images, d.images.slice(0, 7)));
  s.offset = 10;
  EXPECT_NE(error_of([&] { select(d, s); }).find("past the end"), std::string::npos);
}

// Consecutive examples of mapped images stay in the mapping (shared by the processes mapping the
// file); a shuffle, and images in memory, are copied.
TEST(Dataset, ASelectionOfMappedImagesStaysInTheMapping) {
  test::TempDir dir;
  const torch::Tensor x = torch::rand({30, 1, 4, 4}), y = torch::arange(30).remainder(3);
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("y.npy"), y);
  DataSource source;
  source.kind = DataKind::Npy;
  source.paths = {dir.file("x.npy"), dir.file("y.npy")};
  const Dataset all = load_dataset(source);
  Selection part;
  part.offset = 5;
  part.limit = 10;
  const Dataset some = select(all, part);
  EXPECT_TRUE(test::mapped_from_file(some.images.data_ptr(), dir.file("x.npy")));
  EXPECT_TRUE(torch::equal(some.images, x.slice(0, 5, 15)));
  EXPECT_TRUE(torch::equal(some.labels, y.slice(0, 5, 15)));
  EXPECT_TRUE(torch::equal(some.example_ids(), torch::arange(5, 15)));
  part.shuffle = true;
  const Dataset shuffled = select(all, part);
  EXPECT_FALSE(test::mapped_from_file(shuffled.images.data_ptr(), dir.file("x.npy")));
  EXPECT_TRUE(torch::equal(shuffled.images, x.index_select(0, shuffled.example_ids())));
  Dataset memory = all;
  memory.images = x.clone();
  const Dataset copied = select(memory, Selection{5, 10, false, 0});
  EXPECT_FALSE(copied.images.is_alias_of(memory.images));
  EXPECT_TRUE(torch::equal(copied.images, x.slice(0, 5, 15)));
}

TEST(Dataset, ShuffleIsASeededPermutation) {
  const Dataset d = small(50);
  Selection s;
  s.shuffle = true;
  s.seed = 3;
  const Dataset a = select(d, s), b = select(d, s);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_FALSE(torch::equal(a.images, d.images));
  // Same multiset of examples: sorting the per-example sums gives the same values.
  EXPECT_TRUE(torch::equal(std::get<0>(a.images.sum({1, 2, 3}).sort()),
                           std::get<0>(d.images.sum({1, 2, 3}).sort())));
  s.seed = 4;
  EXPECT_FALSE(torch::equal(select(d, s).images, a.images));
}

TEST(Dataset, FashionMnistHasItsPublishedShapeAndBalance) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  DataSource s;
  s.split = Split::Test;
  const Dataset test = load_dataset(s);
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test.class_names[9], "Ankle boot");
  // Fashion-MNIST's test split has exactly 1,000 images of each class.
  EXPECT_TRUE(torch::equal(torch::bincount(test.labels), torch::full({10}, 1000, torch::kLong)));
  s.split = Split::Train;
  EXPECT_EQ(load_dataset(s).size(), 60000);
}

}  // namespace
}  // namespace advtk
