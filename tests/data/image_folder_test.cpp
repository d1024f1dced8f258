#include "data/image_folder.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;
using test::TempDir;

// Images whose pixels are exact multiples of 1/255, so PNG round trips are lossless.
torch::Tensor exact_image(int64_t c, int64_t h, int64_t w, int64_t seed) {
  return ((torch::arange(c * h * w) * 13 + seed * 31) % 256)
      .to(torch::kFloat)
      .div(255)
      .view({c, h, w});
}

TEST(ImageFolder, LoadsClassesInSortedOrderWithExactPixels) {
  TempDir dir;
  write_png(dir.file("dog/b.png"), exact_image(3, 5, 4, 1));
  write_png(dir.file("cat/a.png"), exact_image(3, 5, 4, 2));
  write_png(dir.file("cat/c.png"), exact_image(3, 5, 4, 3));
  test::write_bytes(dir.file("cat/notes.txt"), {'x'});
  const Dataset d = load_image_folder(dir.path().string());
  ASSERT_EQ(d.class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{3, 3, 5, 4}));
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 0, 1}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(d.images[0], exact_image(3, 5, 4, 2), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(d.images[2], exact_image(3, 5, 4, 1), 0, 1e-6));
}

TEST(ImageFolder, GreyscaleStaysOneChannel) {
  TempDir dir;
  write_png(dir.file("0/a.png"), exact_image(1, 6, 6, 0));
  write_png(dir.file("1/a.png"), exact_image(1, 6, 6, 1));
  const Dataset d = load_image_folder(dir.path().string());
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 1, 6, 6}));
}

TEST(ImageFolder, RejectsMixedSizesCorruptImagesAndEmptyFolders) {
  TempDir dir;
  write_png(dir.file("a/1.png"), exact_image(3, 5, 4, 0));
  write_png(dir.file("b/2.png"), exact_image(3, 6, 4, 0));
  const std::string msg = error_of([&] { load_image_folder(dir.path().string()); });
  EXPECT_NE(msg.find("differs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2.png"), std::string::npos) << msg;

  TempDir corrupt;
  write_png(corrupt.file("a/1.png"), exact_image(3, 5, 4, 0));
  test::write_bytes(corrupt.file("a/2.png"), {0x89, 'P', 'N', 'G', 0, 1, 2});
  EXPECT_NE(error_of([&] { load_image_folder(corrupt.path().string()); }).find("cannot decode"),
            std::string::npos);

  TempDir empty;
  EXPECT_NE(error_of([&] { load_image_folder(empty.path().string()); }).find("no class"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
