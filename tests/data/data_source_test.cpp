#include "data/data_source.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "test_util.h"

namespace advtk {
namespace {

using test::be32;
using test::TempDir;

TEST(DataSpec, ParsesEveryKind) {
  EXPECT_EQ(parse_data_source("fashion-mnist", "train").kind, DataKind::FashionMnist);
  EXPECT_EQ(parse_data_source("fashion-mnist", "train").split, Split::Train);
  const DataSource idx = parse_data_source("idx:a.gz,b.gz", "test");
  EXPECT_EQ(idx.kind, DataKind::Idx);
  EXPECT_EQ(idx.paths, (std::vector<std::string>{"a.gz", "b.gz"}));
  EXPECT_EQ(parse_data_source("npy:x.npy,y.npy", "test").kind, DataKind::Npy);
  EXPECT_EQ(parse_data_source("pt:C:/set.pt", "test").paths.front(), "C:/set.pt");
  EXPECT_EQ(parse_data_source("cifar10:/d", "test").kind, DataKind::Cifar10);
  EXPECT_EQ(parse_data_source("mnist:/d", "test").kind, DataKind::Mnist);
  EXPECT_EQ(parse_data_source("folder:/d", "test").kind, DataKind::ImageFolder);
}

TEST(DataSpec, RejectsMalformedSpecs) {
  for (const char* bad : {"idx:a.gz", "npy:x.npy", "npy:x.npy,", "cifar10:", "pt:", "imagenet:/x",
                          "fashion-mnist:/x"}) {
    const std::string msg = test::error_of([&] { parse_data_source(bad, "test"); });
    EXPECT_NE(msg.find("--data"), std::string::npos) << bad << ": " << msg;
  }
}

void write_idx(const std::string& path, std::vector<uint32_t> dims, uint8_t fill, bool gz) {
  std::vector<unsigned char> b = {0, 0, 8, static_cast<unsigned char>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    const auto e = be32(d);
    b.insert(b.end(), e.begin(), e.end());
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>((fill + i) % 10));
  if (!gz) return test::write_bytes(path, b);
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
}

TEST(DataSource, MnistDirectoryFindsBothNamingStylesAndSplits) {
  TempDir dir;
  write_idx(dir.file("train-images-idx3-ubyte.gz"), {3, 2, 2}, 0, true);
  write_idx(dir.file("train-labels-idx1-ubyte.gz"), {3}, 4, true);
  write_idx(dir.file("t10k-images.idx3-ubyte"), {2, 2, 2}, 0, false);  // dotted, raw
  write_idx(dir.file("t10k-labels.idx1-ubyte"), {2}, 7, false);
  DataSource s;
  s.kind = DataKind::Mnist;
  s.paths = {dir.path().string()};
  s.split = Split::Train;
  const Dataset train = load_dataset(s);
  EXPECT_EQ(train.size(), 3);
  EXPECT_EQ(train.labels[2].item<int64_t>(), 6);
  EXPECT_EQ(train.class_names.size(), 10u);
  s.split = Split::Test;
  const Dataset test_split = load_dataset(s);
  EXPECT_EQ(test_split.size(), 2);
  EXPECT_EQ(test_split.labels[1].item<int64_t>(), 8);
}

TEST(DataSource, MissingFilesAreNamed) {
  TempDir dir;
  DataSource s;
  s.kind = DataKind::Mnist;
  s.paths = {dir.path().string()};
  const std::string msg = test::error_of([&] { load_dataset(s); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte"), std::string::npos) << msg;
}

}  // namespace
}  // namespace advtk
