#include "data/cifar10_reader.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_io.h"

namespace advtk {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kRecord = 1 + 3 * 32 * 32;

const std::vector<std::string>& default_cifar10_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

std::vector<std::string> read_meta(const fs::path& dir) {
  std::ifstream in(dir / "batches.meta.txt");
  if (!in) return default_cifar10_names();
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names.size() == 10 ? names : default_cifar10_names();
}

}  // namespace

Dataset load_cifar10_batch(const std::string& path) {
  return parse_cifar10_batch(read_file_bytes(path), path);
}

Dataset parse_cifar10_batch(const std::vector<char>& bytes, const std::string& path) {
  ADVTK_CHECK(!bytes.empty() && bytes.size() % kRecord == 0, path, ": ", bytes.size(),
              " bytes is not a whole number of CIFAR-10 records (", kRecord,
              " bytes each); the file is truncated or not a CIFAR-10 binary batch");
  const int64_t n = static_cast<int64_t>(bytes.size()) / kRecord;
  torch::Tensor raw = torch::empty({n, kRecord}, torch::kByte);
  std::memcpy(raw.data_ptr(), bytes.data(), bytes.size());
  torch::Tensor labels = raw.select(1, 0).to(torch::kLong);
  const int64_t max_label = labels.max().item<int64_t>();
  ADVTK_CHECK(max_label < 10, path, ": label ", max_label, " out of range for CIFAR-10 (0-9)");
  Dataset d;
  d.images = images_from_bytes(raw.slice(1, 1).reshape({n, 3, 32, 32}), false);
  d.labels = labels;
  d.source = path;
  return d;
}

Dataset load_cifar10(const std::string& dir_arg, Split split) {
  fs::path dir(dir_arg);
  if (!fs::exists(dir / "test_batch.bin") && fs::exists(dir / "cifar-10-batches-bin")) {
    dir /= "cifar-10-batches-bin";
  }
  ADVTK_CHECK(fs::is_directory(dir), dir_arg,
              ": not a directory (expected the CIFAR-10 binary batches)");
  std::vector<std::string> files;
  if (split == Split::Test) {
    files.push_back((dir / "test_batch.bin").string());
  } else {
    for (int i = 1; i <= 5; ++i)
      files.push_back((dir / ("data_batch_" + std::to_string(i) + ".bin")).string());
  }
  std::vector<torch::Tensor> images, labels;
  for (const auto& f : files) {
    Dataset part = load_cifar10_batch(f);
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  Dataset d;
  d.images = images.size() == 1 ? images[0] : torch::cat(images);
  d.labels = labels.size() == 1 ? labels[0] : torch::cat(labels);
  d.class_names = read_meta(dir);
  d.source = dir_arg;
  return d;
}

}  // namespace advtk
