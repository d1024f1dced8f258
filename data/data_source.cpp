#include "data/data_source.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/split.h"
#include "data/idx_reader.h"
#include "data/image_folder.h"
#include "data/npy.h"
#include "data/tensor_file.h"

namespace advtk {
namespace fs = std::filesystem;
namespace {

// The first of the usual spellings of an MNIST-style file that exists in `dir`.
std::string find_mnist_file(const std::string& dir, const std::string& stem) {
  std::string dotted = stem;
  dotted[dotted.find("-idx")] = '.';  // train-images.idx3-ubyte, as some mirrors name it
  for (const std::string& name : {stem + ".gz", stem, dotted + ".gz", dotted}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) return p.string();
  }
  throw Error(dir + ": no " + stem + "[.gz] found (expected an MNIST-style directory)");
}

Dataset load_mnist_dir(const std::string& dir, Split split) {
  ADVTK_CHECK(fs::is_directory(dir), dir, ": not a directory");
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string images = find_mnist_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_mnist_file(dir, prefix + "-labels-idx1-ubyte");
  return load_idx(images, labels);
}

}  // namespace

std::string fashion_mnist_dir() {
  const char* env = std::getenv("ADVTK_FASHION_MNIST_DIR");
  return env != nullptr && *env != '\0' ? env : "/usr/share/datasets/fashion-mnist";
}

Dataset load_dataset(const DataSource& source) {
  Dataset d;
  switch (source.kind) {
    case DataKind::FashionMnist: {
      const std::string dir = fashion_mnist_dir();
      ADVTK_CHECK(fs::is_directory(dir), "fashion-mnist: ", dir,
                  " not found (install Debian's dataset-fashion-mnist, or set "
                  "ADVTK_FASHION_MNIST_DIR)");
      d = load_mnist_dir(dir, source.split);
      d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
      d.source = "fashion-mnist:" + std::string(source.split == Split::Train ? "train" : "test");
      break;
    }
    case DataKind::Mnist:
      d = load_mnist_dir(source.paths.at(0), source.split);
      d.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
      break;
    case DataKind::Idx:
      d = load_idx(source.paths.at(0), source.paths.at(1));
      break;
    case DataKind::Cifar10:
      d = load_cifar10(source.paths.at(0), source.split);
      break;
    case DataKind::Npy: {
      // Mapped: the ranks of a launcher on one machine share the images' pages.
      const torch::Tensor images = map_npy(source.paths.at(0));
      const torch::Tensor labels = read_npy(source.paths.at(1));
      ADVTK_CHECK(images.dim() >= 1 && labels.dim() >= 1 && images.size(0) == labels.size(0),
                  source.paths[0], " holds ", images.dim() ? images.size(0) : 0, " images but ",
                  source.paths[1], " holds ", labels.dim() ? labels.size(0) : 0, " labels");
      // The labels' own faults name their file (the dataset is named by its images).
      ADVTK_CHECK(labels.dim() == 1, source.paths[1], ": expected labels of shape [N], got ",
                  labels.sizes());
      ADVTK_CHECK(!labels.is_floating_point() && !labels.is_complex() &&
                      labels.scalar_type() != torch::kBool,
                  source.paths[1], ": expected integer labels, got ", labels.scalar_type());
      ADVTK_CHECK(labels.numel() == 0 || labels.min().item<int64_t>() >= 0, source.paths[1],
                  ": negative label ", labels.numel() ? labels.min().item<int64_t>() : 0);
      d = dataset_from_arrays(images, labels, source.paths[0]);
      break;
    }
    case DataKind::TensorFile:
      d = load_tensor_file(source.paths.at(0));
      break;
    case DataKind::ImageFolder:
      d = load_image_folder(source.paths.at(0));
      break;
  }
  validate_dataset(d);
  return d;
}

DataSource parse_data_source(const std::string& spec, const std::string& split) {
  DataSource s;
  s.split = split == "train" ? Split::Train : Split::Test;
  const auto colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const auto expect_paths = [&](size_t count, const char* form) {
    ADVTK_CHECK(!rest.empty(), "--data ", spec, ": expected ", form);
    s.paths = count == 1 ? std::vector<std::string>{rest} : split_text(rest, ',');
    ADVTK_CHECK(s.paths.size() == count, "--data ", spec, ": expected ", form);
    for (const auto& p : s.paths) ADVTK_CHECK(!p.empty(), "--data ", spec, ": expected ", form);
  };
  if (kind == "fashion-mnist") {
    ADVTK_CHECK(rest.empty(), "--data ", spec,
                ": fashion-mnist takes no path (choose the split with --split)");
    s.kind = DataKind::FashionMnist;
  } else if (kind == "mnist") {
    s.kind = DataKind::Mnist;
    expect_paths(1, "mnist:DIR");
  } else if (kind == "idx") {
    s.kind = DataKind::Idx;
    expect_paths(2, "idx:IMAGES,LABELS");
  } else if (kind == "cifar10") {
    s.kind = DataKind::Cifar10;
    expect_paths(1, "cifar10:DIR");
  } else if (kind == "npy") {
    s.kind = DataKind::Npy;
    expect_paths(2, "npy:IMAGES.npy,LABELS.npy");
  } else if (kind == "pt") {
    s.kind = DataKind::TensorFile;
    expect_paths(1, "pt:FILE");
  } else if (kind == "folder") {
    s.kind = DataKind::ImageFolder;
    expect_paths(1, "folder:DIR");
  } else {
    throw Error("--data: unknown source '" + spec +
                "' (expected fashion-mnist, mnist:DIR, idx:IMAGES,LABELS, cifar10:DIR, "
                "npy:X.npy,Y.npy, pt:FILE or folder:DIR)");
  }
  return s;
}

}  // namespace advtk
