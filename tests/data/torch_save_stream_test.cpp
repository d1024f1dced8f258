#include "data/torch_save_stream.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_io.h"
#include "core/zip_archive.h"
#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;
using test::TempDir;

// One tensor of each of the ten types advtk writes, with sizes past 32 bits on an empty one.
std::vector<std::pair<std::string, torch::Tensor>> examples() {
  return {{"x_adv", torch::rand({5, 1, 3, 2})},
          {"y", torch::arange(5, torch::kLong) * int64_t{3'000'000'000}},  // values past 32 bits
          {"success", torch::tensor({true, false, true, true, false})},
          {"d", torch::rand({4}, torch::kDouble)},
          {"h", torch::rand({3}).to(torch::kHalf)},
          {"u8", torch::randint(0, 255, {7}, torch::kByte)},
          {"i32", torch::tensor({-1, 2, -70000}, torch::kInt)},
          {"i16", torch::tensor({-3, 300}, torch::kShort)},
          {"i8", torch::tensor({-3, 100}, torch::kChar)},
          {"bf16", torch::rand({2}).to(torch::kBFloat16)},
          {"scalar", torch::tensor(2.5)},
          {"empty", torch::empty({0, int64_t{3'000'000'000}})}};
}

// Writes examples(): x_adv two rows, then three, the rest whole, then a str.
void write_examples(const std::string& path, uint64_t zip64_from = 0xFFFFFFFFull) {
  TorchSaveStream s(path, zip64_from);
  const auto e = examples();
  s.begin_tensor("x_adv", torch::kFloat, {5, 1, 3, 2});
  s.append(e[0].second.slice(0, 0, 2));
  s.append(e[0].second.slice(0, 2, 5));
  for (size_t k = 1; k < e.size(); ++k) s.put(e[k].first, e[k].second);
  s.put("parameters", std::string("{\"eps\": 0.1}"));
  s.finish();
}

void expect_examples(const std::string& path) {
  const auto expected = examples();
  const torch::IValue v = parse_torch_save(read_file_bytes(path), path);
  ASSERT_TRUE(v.isGenericDict());
  const auto dict = v.toGenericDict();
  ASSERT_EQ(dict.size(), expected.size() + 1);
  for (const auto& [name, t] : expected) {
    const torch::Tensor got = dict.at(name).toTensor();
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, t)) << name;
  }
  EXPECT_EQ(dict.at("parameters").toStringRef(), "{\"eps\": 0.1}");
}

TEST(TorchSaveStream, ADictWrittenInBlocksReadsBackAsItsTensors) {
  TempDir dir;
  torch::manual_seed(0);
  write_examples(dir.file("a.pt"));
  torch::manual_seed(0);
  expect_examples(dir.file("a.pt"));
  // As PyTorch writes them: one folder, data.pkl and version, every record's data 64-aligned.
  const TorchArchive a = read_torch_archive_file(dir.file("a.pt"), ArchiveKind::TensorFile);
  EXPECT_EQ(a.folder, "archive");
  EXPECT_TRUE(a.find("version"));
  for (const auto& [name, r] : a.records) EXPECT_EQ(r.offset % 64, 0u) << name;
  // The same values as LibTorch's own writer gives (load_tensor_dict reads either).
  torch::manual_seed(0);
  std::map<std::string, torch::Tensor> whole;
  for (const auto& [name, t] : examples()) whole[name] = t;
  save_tensor_dict(dir.file("b.pt"), whole);
  const auto ours = load_tensor_dict(dir.file("a.pt")), theirs = load_tensor_dict(dir.file("b.pt"));
  ASSERT_EQ(ours.size(), theirs.size());
  for (const auto& [name, t] : theirs) EXPECT_TRUE(torch::equal(ours.at(name), t)) << name;
}

TEST(TorchSaveStream, Zip64RecordsReadBack) {
  TempDir dir;
  torch::manual_seed(0);
  write_examples(dir.file("z.pt"), 0);  // every size and offset in ZIP64 fields
  torch::manual_seed(0);
  expect_examples(dir.file("z.pt"));
  const std::vector<char> bytes = read_file_bytes(dir.file("z.pt"));
  // The ZIP64 end record and its locator stand before the end record.
  const std::string tail(bytes.end() - 22 - 20, bytes.end() - 22);
  EXPECT_EQ(tail.substr(0, 4), std::string("PK\x06\x07", 4));
}

TEST(TorchSaveStream, AFileWithMissingRowsIsNotWritten) {
  TempDir dir;
  const std::string path = dir.file("short.pt");
  {
    TorchSaveStream s(path);
    s.begin_tensor("x_adv", torch::kFloat, {3, 2});
    s.append(torch::zeros({2, 2}));
    EXPECT_NE(error_of([&] {
                s.append(torch::zeros({2, 2}));
              }).find("do not continue"),
              std::string::npos);  // past the last row
    EXPECT_NE(error_of([&] {
                s.append(torch::zeros({1, 3}));
              }).find("do not continue"),
              std::string::npos);  // another shape
    EXPECT_NE(error_of([&] {
                s.append(torch::zeros({1, 2}, torch::kDouble));
              }).find("do not continue"),
              std::string::npos);  // another type
    EXPECT_NE(error_of([&] { s.finish(); }).find("2 of 3 rows written"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(TorchSaveStream, PythonsTorchLoadReadsIt) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Python's torch is not installed";
  TempDir dir;
  for (const uint64_t zip64_from : {0xFFFFFFFFull, 0ull}) {
    const std::string path = dir.file("p" + std::to_string(zip64_from) + ".pt");
    torch::manual_seed(0);
    write_examples(path, zip64_from);
    torch::manual_seed(0);
    const auto e = examples();
    save_tensor_dict(dir.file("x_adv.pt"), {{"x_adv", e[0].second}, {"y", e[1].second}});
    const std::string script =
        "import torch\n"
        "d = torch.load('" +
        path +
        "')\n"
        "w = torch.load('" +
        dir.file("x_adv.pt") +
        "')\n"
        "assert torch.equal(d['x_adv'], w['x_adv']) and torch.equal(d['y'], w['y'])\n"
        "assert d['y'].dtype == torch.int64 and d['success'].dtype == torch.bool\n"
        "assert d['h'].dtype == torch.float16 and d['scalar'].item() == 2.5\n"
        "assert d['empty'].shape == (0, 3000000000) and d['parameters'] == '{\"eps\": 0.1}'\n"
        "assert d['bf16'].dtype == torch.bfloat16 and d['i8'].tolist() == [-3, 100]\n"
        "assert list(d) == ['x_adv', 'y', 'success', 'd', 'h', 'u8', 'i32', 'i16', 'i8', "
        "'bf16', 'scalar', 'empty', 'parameters']\n";
    test::write_bytes(dir.file("check.py"), {script.begin(), script.end()});
    EXPECT_EQ(std::system(("/usr/bin/python3 '" + dir.file("check.py") + "'").c_str()), 0)
        << "ZIP64 from " << zip64_from;
  }
}

}  // namespace
}  // namespace advtk
