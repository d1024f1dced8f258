#include "data/tensor_file.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk {
namespace {

using test::error_of;
using test::fixture;
using test::TempDir;

TEST(TensorFile, ReadsPythonSavedPair) {
  const Dataset d = load_tensor_file(fixture("python_pair.pt"));
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{5, 1, 4, 4}));
  // torch.save((x, y)) with x[flat i] = 3i mod 256 as uint8.
  EXPECT_FLOAT_EQ(d.images[2][0][1][3].item<float>(), (3 * 39 % 256) / 255.0f);
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 1, 2, 1, 0}, torch::kLong)));
}

TEST(TensorFile, ReadsPythonSavedDictAndNamesTheLegacyFormat) {
  const Dataset zip = load_tensor_file(fixture("python_dict.pt"));
  ASSERT_EQ(zip.images.sizes(), (std::vector<int64_t>{6, 3, 8, 8}));
  EXPECT_TRUE(torch::equal(zip.labels, torch::tensor({3, 0, 1, 2, 3, 1}, torch::kLong)));
  // The same images as the model fixture's input, written by the same script.
  EXPECT_TRUE(
      torch::equal(zip.images, load_tensor_dict(fixture("python_tiny_model_io.pt")).at("x")));
  const std::string legacy = error_of([] { load_tensor_file(fixture("python_dict_legacy.pt")); });
  EXPECT_NE(legacy.find("legacy"), std::string::npos) << legacy;
}

// torch.save({"x": zeros(2, 1, 2, 2)}): pickle's SETITEM, which LibTorch 1.13 cannot read — then
// said in words; a LibTorch that reads it gives the dict.
TEST(TensorFile, ADictWithOneEntryIsReadOrNamedInWords) {
  const std::string path = fixture("python_single_entry_dict.pt");
  std::map<std::string, torch::Tensor> read;
  const std::string error = error_of([&] { read = load_tensor_dict(path); });
  if (error == "(no error)") {
    ASSERT_EQ(read.count("x"), 1u);
    EXPECT_EQ(read.at("x").sizes(), (std::vector<int64_t>{2, 1, 2, 2}));
  } else {
    EXPECT_NE(error.find("a torch.save of a dict with a single entry"), std::string::npos) << error;
  }
}

TEST(TensorFile, SavedDictRoundTripsAndPrefersAdversarialImages) {
  TempDir dir;
  const torch::Tensor x = torch::rand({4, 1, 3, 3});
  const torch::Tensor x_adv = (x + 0.01).clamp(0, 1);
  const torch::Tensor y = torch::tensor({1, 0, 1, 2}, torch::kLong);
  save_tensor_dict(dir.file("set.pt"), {{"x", x}, {"y", y}});
  EXPECT_TRUE(torch::equal(load_tensor_file(dir.file("set.pt")).images, x));
  save_tensor_dict(dir.file("adv.pt"), {{"x", x}, {"x_adv", x_adv}, {"y", y}});
  EXPECT_TRUE(torch::equal(load_tensor_file(dir.file("adv.pt")).images, x_adv));
  const auto dict = load_tensor_dict(dir.file("adv.pt"));
  EXPECT_EQ(dict.size(), 3u);
  EXPECT_TRUE(torch::equal(dict.at("y"), y));
}

// A file loaded keeps its tensors' storage in its mapping (copy-on-write): the values of the bytes
// read, the file untouched by writes to them, and the tensors intact when the file is replaced.
TEST(TensorFile, ALoadedFileIsMappedAndNeverWrittenThrough) {
  TempDir dir;
  const std::string path = dir.file("set.pt");
  const torch::Tensor x = torch::rand({20, 3, 8, 8}), y = torch::arange(20, torch::kLong);
  save_tensor_dict(path, {{"x", x}, {"y", y}});
  const auto bytes = test::read_bytes(path);
  auto dict = load_tensor_dict(path);
  const auto read = parse_torch_save({bytes.begin(), bytes.end()}, path).toGenericDict();
  EXPECT_TRUE(torch::equal(dict.at("x"), read.at("x").toTensor()));
  EXPECT_TRUE(torch::equal(dict.at("y"), y));
  EXPECT_TRUE(test::mapped_from_file(dict.at("x").data_ptr(), path));
  EXPECT_FALSE(test::mapped_from_file(read.at("x").toTensor().data_ptr(), path));
  const Dataset d = load_tensor_file(path);  // float32 NCHW: used as it lies
  EXPECT_TRUE(test::mapped_from_file(d.images.data_ptr(), path));
  dict.at("x")[3].fill_(-1);
  EXPECT_EQ(test::read_bytes(path), bytes);
  save_tensor_dict(path, {{"x", torch::zeros({20, 3, 8, 8})}, {"y", y}});  // renamed over it
  EXPECT_TRUE(torch::equal(d.images, x));
  EXPECT_EQ(dict.at("x")[3].max().item<float>(), -1);
}

TEST(TensorFile, RejectsCorruptFilesAndMissingKeys) {
  TempDir dir;
  test::write_bytes(dir.file("junk.pt"), {'n', 'o', 't', ' ', 'a', ' ', 'p', 't'});
  EXPECT_NE(error_of([&] { load_tensor_file(dir.file("junk.pt")); }).find("not a readable"),
            std::string::npos);
  save_tensor_dict(dir.file("nolabels.pt"), {{"x", torch::rand({2, 1, 2, 2})}});
  EXPECT_NE(error_of([&] { load_tensor_file(dir.file("nolabels.pt")); }).find("keys x"),
            std::string::npos);
  save_tensor_dict(dir.file("mismatch.pt"),
                   {{"x", torch::rand({2, 1, 2, 2})}, {"y", torch::zeros({3}, torch::kLong)}});
  EXPECT_NE(error_of([&] { load_tensor_file(dir.file("mismatch.pt")); }).find("3 labels"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk
