#include "data/npy.h"

#include <gtest/gtest.h>

#include <zlib.h>

#include <filesystem>

#include "core/seeding.h"
#include "data/data_source.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;
using test::fixture;
using test::TempDir;

TEST(Npy, ReadsNumpyWrittenArrays) {
  const torch::Tensor u8 = read_npy(fixture("nhwc_u8_x.npy"));
  ASSERT_EQ(u8.scalar_type(), torch::kByte);
  ASSERT_EQ(u8.sizes(), (std::vector<int64_t>{4, 5, 6, 3}));
  EXPECT_EQ(u8[1][2][3][1].item<int>(), 136);  // flat index 136, written by NumPy
  const torch::Tensor f64 = read_npy(fixture("nchw_f64_x.npy"));
  ASSERT_EQ(f64.scalar_type(), torch::kDouble);
  EXPECT_DOUBLE_EQ(f64[2][0][4][4].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(f64[1][0][0][1].item<double>(), 26.0 / 74.0);
}

TEST(Npy, NhwcUint8BecomesNchwFloat) {
  DataSource s;
  s.kind = DataKind::Npy;
  s.paths = {fixture("nhwc_u8_x.npy"), fixture("nhwc_u8_y.npy")};
  const Dataset d = load_dataset(s);
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{4, 3, 5, 6}));
  // NumPy element [1, h=2, w=3, c=1] holds 136.
  EXPECT_FLOAT_EQ(d.images[1][1][2][3].item<float>(), 136 / 255.0f);
  EXPECT_EQ(d.labels.scalar_type(), torch::kLong);
  EXPECT_EQ(d.labels[2].item<int64_t>(), 2);

  s.paths = {fixture("nchw_f64_x.npy"), fixture("nchw_f64_y.npy")};
  const Dataset f = load_dataset(s);
  ASSERT_EQ(f.images.sizes(), (std::vector<int64_t>{3, 1, 5, 5}));
  EXPECT_EQ(f.labels[1].item<int64_t>(), 4);
}

TEST(Npy, WriteThenReadKeepsValuesAndDtype) {
  TempDir dir;
  for (auto dtype : {torch::kByte, torch::kLong, torch::kFloat, torch::kDouble}) {
    const torch::Tensor t = torch::arange(24).reshape({2, 3, 4}).to(dtype);
    write_npy(dir.file("t.npy"), t);
    const torch::Tensor back = read_npy(dir.file("t.npy"));
    EXPECT_EQ(back.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(back, t));
  }
  write_npy(dir.file("v.npy"), torch::tensor({5, 6}, torch::kLong));
  EXPECT_EQ(read_npy(dir.file("v.npy")).sizes(), (std::vector<int64_t>{2}));
  write_npy(dir.file("s.npy"), torch::tensor(2.5, torch::kDouble));  // a 0-d array: shape ()
  const torch::Tensor s = read_npy(dir.file("s.npy"));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 2.5);
}

// map_npy against read_npy: the same arrays, the file never written through the mapping, the
// tensor intact when the file is replaced, and the read path where mapping cannot serve.
TEST(Npy, AMappedArrayIsTheReadArrayAndNeverWritesItsFile) {
  TempDir dir;
  for (auto dtype : {torch::kBool, torch::kByte, torch::kShort, torch::kLong, torch::kHalf,
                     torch::kFloat, torch::kDouble}) {
    const torch::Tensor t = torch::arange(24).reshape({2, 3, 4}).remainder(7).to(dtype);
    write_npy(dir.file("t.npy"), t);
    const torch::Tensor mapped = map_npy(dir.file("t.npy"));
    EXPECT_EQ(mapped.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(mapped, read_npy(dir.file("t.npy")))) << dtype;
  }
  const torch::Tensor x = torch::rand({50, 3, 8, 8}, make_generator(4));
  write_npy(dir.file("x.npy"), x);
  const auto bytes = test::read_bytes(dir.file("x.npy"));
  torch::Tensor mapped = map_npy(dir.file("x.npy"));
  ASSERT_TRUE(torch::equal(mapped, x));
  EXPECT_TRUE(test::mapped_from_file(mapped.data_ptr(), dir.file("x.npy")));
  EXPECT_FALSE(test::mapped_from_file(read_npy(dir.file("x.npy")).data_ptr(), dir.file("x.npy")));
  mapped[7].fill_(-1);  // copy-on-write: the file keeps its bytes
  EXPECT_EQ(test::read_bytes(dir.file("x.npy")), bytes);
  EXPECT_EQ(mapped[7].min().item<float>(), -1);
  // advtk replaces a file by renaming a new one over it: the mapped tensor keeps the old data.
  const torch::Tensor held = map_npy(dir.file("x.npy"));
  write_npy(dir.file("x.npy"), torch::zeros({50, 3, 8, 8}));
  EXPECT_TRUE(torch::equal(held, x));
  // Gzipped, empty, a 0-d array and data at an offset no float is aligned to: read instead.
  gzFile gz = gzopen(dir.file("x.npy.gz").c_str(), "wb");
  gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
  EXPECT_TRUE(torch::equal(map_npy(dir.file("x.npy.gz")), x));
  write_npy(dir.file("e.npy"), torch::zeros({0, 3}));
  EXPECT_EQ(map_npy(dir.file("e.npy")).sizes(), (std::vector<int64_t>{0, 3}));
  write_npy(dir.file("s.npy"), torch::tensor(2.5, torch::kDouble));
  EXPECT_EQ(map_npy(dir.file("s.npy")).item<double>(), 2.5);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  header.append(size_t{117} - header.size(), ' ');  // data at 10 + 117 = 127
  std::vector<unsigned char> odd = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 117, 0};
  odd.insert(odd.end(), header.begin(), header.end());
  const float values[3] = {0.25f, -3.0f, 1e-7f};
  const auto* raw = reinterpret_cast<const unsigned char*>(values);
  odd.insert(odd.end(), raw, raw + sizeof(values));
  test::write_bytes(dir.file("odd.npy"), odd);
  EXPECT_TRUE(torch::equal(map_npy(dir.file("odd.npy")), torch::tensor({0.25f, -3.0f, 1e-7f})));
  // Its faults are read_npy's, word for word.
  auto cut = bytes;
  cut.resize(cut.size() - 8);
  test::write_bytes(dir.file("cut.npy"), cut);
  EXPECT_EQ(error_of([&] { map_npy(dir.file("cut.npy")); }),
            error_of([&] { read_npy(dir.file("cut.npy")); }));
  EXPECT_EQ(error_of([&] { map_npy(dir.file("none.npy")); }),
            error_of([&] { read_npy(dir.file("none.npy")); }));
  const std::string folder = dir.path().string();
  EXPECT_EQ(error_of([&] { map_npy(folder); }), error_of([&] { read_npy(folder); }));
}

TEST(Npy, RejectsMalformedFiles) {
  TempDir dir;
  auto good = test::read_bytes(fixture("nchw_f64_x.npy"));
  auto cut = good;
  cut.resize(cut.size() - 8);
  test::write_bytes(dir.file("cut.npy"), cut);
  EXPECT_NE(error_of([&] { read_npy(dir.file("cut.npy")); }).find("truncated"), std::string::npos);
  auto magic = good;
  magic[1] = 'X';
  test::write_bytes(dir.file("magic.npy"), magic);
  EXPECT_NE(error_of([&] { read_npy(dir.file("magic.npy")); }).find("magic"), std::string::npos);
  std::string text(good.begin(), good.end());
  auto fortran = text;
  fortran.replace(fortran.find("False"), 5, "True ");
  test::write_bytes(dir.file("f.npy"), {fortran.begin(), fortran.end()});
  EXPECT_NE(error_of([&] { read_npy(dir.file("f.npy")); }).find("Fortran"), std::string::npos);
  auto complex = text;
  complex.replace(complex.find("<f8"), 3, "<c8");
  test::write_bytes(dir.file("c.npy"), {complex.begin(), complex.end()});
  EXPECT_NE(error_of([&] { read_npy(dir.file("c.npy")); }).find("not supported"),
            std::string::npos);
  // String and object labels (np.array(["cat", "dog"]), dtype=object): the type is named.
  for (const auto& [descr, words] :
       std::vector<std::pair<std::string, std::string>>{{"<U3", "'U3' (unicode strings)"},
                                                        {"|O8", "'O8' (Python objects)"},
                                                        {"|S3", "'S3' (byte strings)"}}) {
    auto strings = text;
    strings.replace(strings.find("<f8"), 3, descr);
    test::write_bytes(dir.file("s.npy"), {strings.begin(), strings.end()});
    const std::string e = error_of([&] { read_npy(dir.file("s.npy")); });
    EXPECT_NE(e.find(words), std::string::npos) << e;
    EXPECT_NE(e.find("expected u1"), std::string::npos) << e;
  }
}

TEST(Npy, RejectsCountMismatchAndNaN) {
  TempDir dir;
  write_npy(dir.file("x.npy"), torch::rand({3, 1, 4, 4}));
  write_npy(dir.file("y.npy"), torch::zeros({2}, torch::kLong));
  DataSource s;
  s.kind = DataKind::Npy;
  s.paths = {dir.file("x.npy"), dir.file("y.npy")};
  EXPECT_NE(error_of([&] { load_dataset(s); }).find("2 labels"), std::string::npos);
  torch::Tensor x = torch::rand({2, 1, 4, 4});
  x[1][0][2][2] = std::nan("");
  write_npy(dir.file("x.npy"), x);
  EXPECT_NE(error_of([&] { load_dataset(s); }).find("NaN"), std::string::npos);
  write_npy(dir.file("x.npy"), torch::rand({2, 1, 4, 4}) * 255);
  EXPECT_NE(error_of([&] { load_dataset(s); }).find("[0, 1]"), std::string::npos);
  write_npy(dir.file("x.npy"), torch::rand({2, 1, 4, 4}));
  write_npy(dir.file("y.npy"), torch::tensor({0.5, 1.0}));
  EXPECT_NE(error_of([&] { load_dataset(s); }).find("integer labels"), std::string::npos);
}

TEST(Npy, AnArrayWrittenInBlocksIsTheWholeArraysFileAndReadsBackInBlocks) {
  TempDir dir;
  const torch::Tensor x = torch::rand({5, 2, 3});
  write_npy(dir.file("whole.npy"), x);
  {
    NpyWriter w(dir.file("blocks.npy"), torch::kFloat, {5, 2, 3});
    w.append(x.slice(0, 0, 2));
    EXPECT_FALSE(std::filesystem::exists(dir.file("blocks.npy")));  // appears when whole
    w.append(x.slice(0, 2, 5));
    w.finish();
  }
  EXPECT_EQ(test::read_bytes(dir.file("blocks.npy")), test::read_bytes(dir.file("whole.npy")));
  NpyRowReader r(dir.file("blocks.npy"));
  EXPECT_EQ(r.shape(), (std::vector<int64_t>{5, 2, 3}));
  EXPECT_TRUE(torch::equal(r.next(3), x.slice(0, 0, 3)));
  EXPECT_TRUE(torch::equal(r.next(2), x.slice(0, 3, 5)));
  EXPECT_NE(error_of([&] { r.next(1); }).find("rows 5 to 6 asked of 5"), std::string::npos);
  // A file NumPy wrote, read a row at a time.
  NpyRowReader u8(fixture("nhwc_u8_x.npy"));
  const torch::Tensor whole = read_npy(fixture("nhwc_u8_x.npy"));
  for (int64_t i = 0; i < whole.size(0); ++i) EXPECT_TRUE(torch::equal(u8.next(1)[0], whole[i]));
}

TEST(Npy, AStreamedArrayShortOfRowsIsNotWritten) {
  TempDir dir;
  {
    NpyWriter w(dir.file("short.npy"), torch::kLong, {3});
    w.append(torch::zeros({2}, torch::kLong));
    EXPECT_NE(error_of([&] { w.append(torch::zeros({2}, torch::kLong)); }).find("do not continue"),
              std::string::npos);
    EXPECT_NE(error_of([&] { w.append(torch::zeros({1})); }).find("do not continue"),
              std::string::npos);
    EXPECT_NE(error_of([&] { w.finish(); }).find("2 of 3 rows written"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("short.npy")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("short.npy.tmp")));
  // A truncated file is named as such when opened for rows.
  write_npy(dir.file("x.npy"), torch::rand({4, 4}));
  auto bytes = test::read_bytes(dir.file("x.npy"));
  bytes.resize(bytes.size() - 4);
  test::write_bytes(dir.file("x.npy"), bytes);
  EXPECT_NE(error_of([&] { NpyRowReader r(dir.file("x.npy")); }).find("truncated"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
