#include "data/idx_reader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "core/error.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::be32;
using test::error_of;
using test::TempDir;

std::vector<unsigned char> idx(uint8_t rank, std::vector<uint32_t> dims, size_t payload,
                               uint8_t type = 0x08) {
  std::vector<unsigned char> b = {0, 0, type, rank};
  for (uint32_t d : dims) {
    const auto e = be32(d);
    b.insert(b.end(), e.begin(), e.end());
  }
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<unsigned char>(i * 7 % 256));
  return b;
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

TEST(IdxReader, ReadsRawAndGzippedImagesWithPixelValuesScaled) {
  TempDir dir;
  test::write_bytes(dir.file("img"), idx(3, {2, 3, 4}, 24));
  test::write_bytes(dir.file("lab"), idx(1, {2}, 2));
  write_gz(dir.file("img.gz"), idx(3, {2, 3, 4}, 24));
  for (const std::string images : {dir.file("img"), dir.file("img.gz")}) {
    const Dataset d = load_idx(images, dir.file("lab"));
    ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{2, 1, 3, 4}));
    // Pixel i holds byte 7i mod 256; element [1,0,2,3] is flat index 12 + 8 + 3 = 23.
    EXPECT_FLOAT_EQ(d.images[1][0][2][3].item<float>(), (23 * 7 % 256) / 255.0f);
    EXPECT_EQ(d.labels[1].item<int64_t>(), 7);
  }
}

TEST(IdxReader, RejectsBadMagicNumber) {
  TempDir dir;
  auto bytes = idx(3, {1, 2, 2}, 4);
  bytes[0] = 0x1a;
  test::write_bytes(dir.file("bad"), bytes);
  const std::string msg = error_of([&] { read_idx_bytes(dir.file("bad"), 3); });
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.file("bad")), std::string::npos) << msg;
}

TEST(IdxReader, RejectsWrongRankAndElementType) {
  TempDir dir;
  test::write_bytes(dir.file("labels-as-images"), idx(1, {4}, 4));
  EXPECT_NE(error_of([&] { read_idx_bytes(dir.file("labels-as-images"), 3); }).find("rank"),
            std::string::npos);
  test::write_bytes(dir.file("floats"), idx(1, {1}, 4, 0x0D));
  EXPECT_NE(error_of([&] { read_idx_bytes(dir.file("floats"), 1); }).find("element type"),
            std::string::npos);
}

TEST(IdxReader, RejectsTruncatedAndOverlongFiles) {
  TempDir dir;
  test::write_bytes(dir.file("short"), idx(3, {3, 2, 2}, 11));
  EXPECT_NE(error_of([&] { read_idx_bytes(dir.file("short"), 3); }).find("truncated"),
            std::string::npos);
  test::write_bytes(dir.file("long"), idx(3, {3, 2, 2}, 13));
  EXPECT_NE(error_of([&] { read_idx_bytes(dir.file("long"), 3); }).find("trailing"),
            std::string::npos);
  test::write_bytes(dir.file("header"), {0, 0, 8, 3, 0, 0});
  EXPECT_NE(error_of([&] { read_idx_bytes(dir.file("header"), 3); }).find("truncated"),
            std::string::npos);
  auto gz = idx(3, {3, 2, 2}, 12);
  write_gz(dir.file("whole.gz"), gz);
  auto packed = test::read_bytes(dir.file("whole.gz"));
  packed.resize(packed.size() / 2);
  test::write_bytes(dir.file("cut.gz"), packed);
  EXPECT_NE(error_of([&] { read_idx_bytes(dir.file("cut.gz"), 3); }).find("gzip"),
            std::string::npos);
}

TEST(IdxReader, RejectsImageLabelCountMismatch) {
  TempDir dir;
  test::write_bytes(dir.file("img"), idx(3, {3, 2, 2}, 12));
  test::write_bytes(dir.file("lab"), idx(1, {2}, 2));
  const std::string msg = error_of([&] { load_idx(dir.file("img"), dir.file("lab")); });
  EXPECT_NE(msg.find("3 images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 labels"), std::string::npos) << msg;
}

TEST(IdxReader, MissingFileIsNamed) {
  const std::string msg = error_of([] { read_idx_bytes("/nonexistent/train-images", 3); });
  EXPECT_NE(msg.find("/nonexistent/train-images: no such file"), std::string::npos) << msg;
}

}  // namespace
}  // namespace advtk
