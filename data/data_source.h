// Which dataset to load: the typed form of the CLI's --data spec.
#pragma once

#include <string>
#include <vector>

#include "data/cifar10_reader.h"
#include "data/dataset.h"

namespace advtk {

enum class DataKind { FashionMnist, Mnist, Idx, Cifar10, Npy, TensorFile, ImageFolder };

struct DataSource {
  DataKind kind = DataKind::FashionMnist;
  std::vector<std::string> paths;  // DIR, or IMAGES,LABELS, or FILE, by kind
  Split split = Split::Test;       // for kinds that have train/test files

  bool has_splits() const {
    return kind == DataKind::FashionMnist || kind == DataKind::Mnist || kind == DataKind::Cifar10;
  }
};

// Where Debian's dataset-fashion-mnist package puts the files; ADVTK_FASHION_MNIST_DIR overrides.
std::string fashion_mnist_dir();

// The --data spec: "fashion-mnist", "mnist:DIR", "idx:IMAGES,LABELS", "cifar10:DIR",
// "npy:X.npy,Y.npy", "pt:FILE", "folder:DIR"; `split` is "train" or "test".
DataSource parse_data_source(const std::string& spec, const std::string& split);

// Loads and validates the whole source (selection is applied separately, see select()).
Dataset load_dataset(const DataSource& source);

}  // namespace advtk
