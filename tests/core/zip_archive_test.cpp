// The strict zip reader on archives written by hand (stored entries, with and without ZIP64
// records) and on PyTorch's own files, and the tensor-file reader on records that lie about their
// sizes.
#include "core/zip_archive.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "core/error.h"
#include "core/file_io.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

void put(std::vector<char>& out, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>(v >> (8 * i) & 0xFF));
}

struct Entry {
  std::string name;
  std::string data;
};

// A stored zip of `entries` as APPNOTE 6.3 lays it out; with `zip64`, the end record's fields
// are saturated and the real ones sit in a ZIP64 end record and its locator.
std::vector<char> zip(const std::vector<Entry>& entries, bool zip64 = false) {
  std::vector<char> out, central;
  for (const Entry& e : entries) {
    const uint64_t offset = out.size();
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(e.data.data()), e.data.size());
    put(out, 0x04034b50, 4);
    put(out, 20, 2), put(out, 0, 2), put(out, 0, 2),
        put(out, 0, 4);  // version, flags, method, time
    put(out, crc, 4), put(out, e.data.size(), 4), put(out, e.data.size(), 4);
    put(out, e.name.size(), 2), put(out, 0, 2);
    out.insert(out.end(), e.name.begin(), e.name.end());
    out.insert(out.end(), e.data.begin(), e.data.end());
    put(central, 0x02014b50, 4);
    put(central, 20, 2), put(central, 20, 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 4), put(central, crc, 4);
    put(central, e.data.size(), 4), put(central, e.data.size(), 4);
    put(central, e.name.size(), 2), put(central, 0, 2), put(central, 0, 2);  // name, extra, comment
    put(central, 0, 2), put(central, 0, 2), put(central, 0, 4), put(central, offset, 4);
    central.insert(central.end(), e.name.begin(), e.name.end());
  }
  const uint64_t directory = out.size();
  out.insert(out.end(), central.begin(), central.end());
  if (zip64) {
    const uint64_t end64 = out.size();
    put(out, 0x06064b50, 4), put(out, 44, 8), put(out, 45, 2), put(out, 45, 2);
    put(out, 0, 4), put(out, 0, 4), put(out, entries.size(), 8), put(out, entries.size(), 8);
    put(out, central.size(), 8), put(out, directory, 8);
    put(out, 0x07064b50, 4), put(out, 0, 4), put(out, end64, 8), put(out, 1, 4);
  }
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2);
  put(out, zip64 ? 0xFFFF : entries.size(), 2), put(out, zip64 ? 0xFFFF : entries.size(), 2);
  put(out, zip64 ? 0xFFFFFFFF : central.size(), 4), put(out, zip64 ? 0xFFFFFFFF : directory, 4);
  put(out, 0, 2);
  return out;
}

const std::vector<Entry> kTensorFile = {
    {"archive/data.pkl", "pickle"}, {"archive/data/0", "0123"}, {"archive/version", "3\n"}};

std::string refusal(const std::vector<char>& bytes, ArchiveKind kind = ArchiveKind::TensorFile) {
  try {
    read_torch_archive(bytes, "f.pt", kind);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ZipArchive, FindsEveryRecordOfAHandWrittenArchiveWithAndWithoutZip64) {
  for (bool zip64 : {false, true}) {
    const TorchArchive a =
        read_torch_archive(zip(kTensorFile, zip64), "f.pt", ArchiveKind::TensorFile);
    EXPECT_EQ(a.folder, "archive");
    ASSERT_EQ(a.records.size(), 3u);
    // Local header 30 bytes + the 16-byte name, then "pickle" (6 bytes); the next header follows.
    EXPECT_EQ(a.find("data.pkl")->offset, 46u);
    EXPECT_EQ(a.find("data/0")->offset, 46u + 6 + 30 + 14);
    EXPECT_EQ(a.find("data/0")->size, 4u);
    EXPECT_EQ(a.find("data/0")->crc32, crc32(0L, reinterpret_cast<const Bytef*>("0123"), 4));
  }
}

TEST(ZipArchive, RefusesDamagedContainersWithTheFault) {
  std::vector<char> bytes = zip(kTensorFile);
  EXPECT_NE(refusal({bytes.begin(), bytes.end() - 1}).find("no end-of-central-directory"),
            std::string::npos);
  EXPECT_NE(refusal({bytes.begin(), bytes.begin() + 10}).find("too short"), std::string::npos);

  // The first central entry's local-header offset (at +42) pointed past the file.
  const size_t central = 46 + 6 + 44 + 4 + 45 + 2;
  std::vector<char> far = bytes;
  far[central + 42 + 3] = 0x7F;
  EXPECT_NE(refusal(far).find("points outside the file"), std::string::npos);

  std::vector<char> big = bytes;  // data.pkl's sizes (+20, +24) say 4 GiB - 1
  for (int i : {20, 24}) std::fill_n(big.begin() + central + i, 4, '\xFF');
  EXPECT_NE(refusal(big).find("data runs into the central directory"), std::string::npos);

  std::vector<char> packed = bytes;
  packed[central + 10] = 12;  // bzip2
  EXPECT_NE(refusal(packed).find("is compressed by method 12"), std::string::npos);

  std::vector<char> flipped = bytes;
  flipped[46] ^= 1;  // a byte of data.pkl
  EXPECT_NE(refusal(flipped).find("archive/data.pkl fails its CRC-32 check"), std::string::npos);

  EXPECT_NE(refusal(zip({{"data.pkl", "x"}, {"version", "3"}})).find("not inside a folder"),
            std::string::npos);
  EXPECT_NE(refusal(zip({{"a/data.pkl", "x"}, {"b/version", "3"}})).find("two folders"),
            std::string::npos);
  EXPECT_NE(refusal(zip({{"a/data.pkl", "x"}, {"a/data.pkl", "y"}, {"a/version", "3"}}))
                .find("appears twice"),
            std::string::npos);
  EXPECT_NE(refusal(zip({{"a/data/0", "x"}, {"a/version", "3"}})).find("no a/data.pkl"),
            std::string::npos);
  EXPECT_NE(refusal(zip(kTensorFile), ArchiveKind::Module).find("no archive/constants.pkl"),
            std::string::npos);
}

TEST(ZipArchive, ReadsPyTorchsFilesAndAdvtksOwn) {
  const TorchArchive python =
      read_torch_archive_file(test::fixture("python_dict.pt"), ArchiveKind::TensorFile);
  EXPECT_EQ(python.folder, "python_dict");
  EXPECT_TRUE(python.find("data/0") && python.find("data/1") && python.find("version"));
  read_torch_archive_file(test::fixture("python_tiny_model.pt"), ArchiveKind::Module);

  const test::TempDir dir;
  const std::string own = dir.file("own.pt");
  save_tensor_dict(own, {{"x", torch::rand({2, 1, 3, 3})}, {"y", torch::zeros({2}, torch::kLong)}});
  EXPECT_EQ(read_torch_archive_file(own, ArchiveKind::TensorFile).records.count("data.pkl"), 1u);
  EXPECT_EQ(load_tensor_file(own).images.sizes(), torch::IntArrayRef({2, 1, 3, 3}));
}

// A record shorter than the storage its pickle claims: LibTorch would make a tensor reading past
// the record's copy.
TEST(TensorFile, RefusesAStorageLargerThanItsRecord) {
  const std::vector<char> file = read_file_bytes(test::fixture("python_dict.pt"), false);
  const TorchArchive a = read_torch_archive(file, "python_dict.pt", ArchiveKind::TensorFile);
  std::vector<Entry> entries;
  for (const auto& [name, r] : a.records) {
    std::string data(file.data() + r.offset, r.size);
    if (name == "data/0") data.resize(data.size() / 2);
    entries.push_back({a.folder + "/" + name, data});
  }
  try {
    parse_torch_save(zip(entries), "short.pt");
    FAIL() << "read a storage past its record";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than its record holds"), std::string::npos)
        << e.what();
  }
}

// Sizes, strides and offset set as LibTorch's unpickler sets them, unchecked.
torch::Tensor view_of_four(std::vector<int64_t> sizes, std::vector<int64_t> strides,
                           int64_t offset = 0) {
  torch::Tensor t = torch::zeros({4});
  t.unsafeGetTensorImpl()->set_sizes_and_strides(sizes, strides);
  t.unsafeGetTensorImpl()->set_storage_offset(offset);
  return t;
}

TEST(TensorFile, RefusesATensorReachingPastItsStorage) {
  EXPECT_NO_THROW(check_inside_storage(view_of_four({2, 2}, {2, 1}), "t"));
  EXPECT_NO_THROW(check_inside_storage(view_of_four({3}, {1}, 1), "t"));            // elements 1..3
  EXPECT_THROW(check_inside_storage(view_of_four({2, 2}, {2, 1}, 1), "t"), Error);  // 1..4
  EXPECT_THROW(check_inside_storage(view_of_four({3}, {2}), "t"), Error);           // 0, 2, 4
  EXPECT_THROW(check_inside_storage(view_of_four({1}, {1}, 4), "t"), Error);
  EXPECT_NO_THROW(check_inside_storage(view_of_four({4, 0}, {100, 1}), "t"));  // no elements
}

}  // namespace
}  // namespace advtk
