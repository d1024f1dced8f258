// The inputs that once broke a reader (tests/fixtures/fuzz/: found by scripts/fuzz.sh or crafted
// by hand after the same pattern), replayed as the harnesses feed them: each must be read or
// refused with advtk::Error naming it — never crash or throw anything else.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "data/idx_reader.h"
#include "data/image_folder.h"
#include "data/npy.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

namespace fs = std::filesystem;

// "refused: <message>" or "read".
std::string outcome(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::string("refused: ") + e.what();
  }
  return "read";
}

TEST(FuzzRegressions, EveryFoundInputIsReadOrRefusedInWords) {
  const fs::path dir = fs::path(test::fixture("fuzz"));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const std::vector<char> bytes = read_file_bytes(e.path().string(), /*gunzip=*/false);
    ++files;
    if (name.rfind("npy_", 0) == 0) {
      const std::string r = outcome([&] { parse_npy(bytes, name); });
      EXPECT_TRUE(r == "read" || r.rfind("refused: " + name + ": ", 0) == 0) << r;
    } else if (name.rfind("idx_", 0) == 0) {
      for (int64_t rank : {3, 1}) {
        const std::string r =
            outcome([&] { parse_idx(gunzip_if_gzipped(bytes, name), name, rank); });
        EXPECT_TRUE(r == "read" || r.rfind("refused: " + name + ": ", 0) == 0) << r;
      }
    } else if (name.rfind("image_", 0) == 0) {
      for (int channels : {0, 1, 3}) {
        const std::string r = outcome([&] { decode_image(bytes, name, channels); });
        EXPECT_TRUE(r == "read" || r.rfind("refused: " + name + ": ", 0) == 0) << r;
      }
    } else if (name.rfind("torch_save_", 0) == 0) {
      const std::string r = outcome([&] { parse_torch_save(bytes, name); });
      EXPECT_TRUE(r == "read" || r.rfind("refused: " + name + ": ", 0) == 0) << r;
    } else {
      ADD_FAILURE()
          << name << ": a regression file of no known reader (npy_*, idx_*, image_*, torch_save_*)";
    }
  }
  EXPECT_GE(files, 3);
}

TEST(FuzzRegressions, OverflowingShapesAreRefusedBeforeAnyAllocation) {
  const auto read = [](const std::string& f) {
    return outcome([&] { parse_npy(read_file_bytes(test::fixture("fuzz/" + f), false), f); });
  };
  EXPECT_NE(read("npy_twenty_digit_dimension").find("larger than any file"), std::string::npos);
  EXPECT_NE(read("npy_shape_product_overflow").find("needs more data than any file"),
            std::string::npos);
  const std::string idx = outcome([] {
    parse_idx(
        gunzip_if_gzipped(
            read_file_bytes(test::fixture("fuzz/idx_dimension_product_overflow"), false), "idx"),
        "idx", 3);
  });
  EXPECT_NE(idx.find("more data than any file"), std::string::npos) << idx;
}

// Debian's stb_image writes past its Huffman tables on this JPEG (data/jpeg_tables.h).
TEST(FuzzRegressions, ImagesThatBrokeStbImageAreRefused) {
  // The second starts with 0xFF fill bytes before its start-of-image marker.
  for (const std::string f :
       {"image_jpeg_huffman_table_over_256_codes", "image_jpeg_fill_bytes_before_soi"}) {
    const std::string r =
        outcome([&] { decode_image(read_file_bytes(test::fixture("fuzz/" + f), false), f); });
    EXPECT_NE(r.find("corrupt JPEG (a Huffman table of"), std::string::npos) << f << ": " << r;
  }
  const std::string bmp = "image_bmp_zero_width";  // stb_image decodes it to no pixels
  const std::string b =
      outcome([&] { decode_image(read_file_bytes(test::fixture("fuzz/" + bmp), false), bmp); });
  EXPECT_EQ(b, "refused: " + bmp + ": an image of 0x69 pixels and 3 channels") << b;
  // stb_image's PNM decoder overflows an int on this header; advtk hands stb only PNG/JPEG/BMP.
  const std::string pnm = "image_pnm_integer_overflow";
  const std::string p =
      outcome([&] { decode_image(read_file_bytes(test::fixture("fuzz/" + pnm), false), pnm); });
  EXPECT_EQ(p, "refused: " + pnm + ": not a PNG, JPEG or BMP image (the formats advtk reads)");
}

}  // namespace
}  // namespace advtk
