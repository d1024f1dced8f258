#include "cli/common.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk::cli {
namespace {

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

TEST(ModelOptions, ParsesNormalisationAndRange) {
  ModelCliOptions o;
  o.mean = "0.5,0.25";
  o.std = "0.5,1/8";
  o.input_range = "0,255";
  const ModelOptions m = to_model_options(o, "cpu");
  EXPECT_EQ(m.std, (std::vector<double>{0.5, 0.125}));
  EXPECT_DOUBLE_EQ(m.input_hi, 255);
  o.input_range = "1,0";
  EXPECT_NE(test::error_of([&] { to_model_options(o, "cpu"); }).find("--input-range"),
            std::string::npos);
  o.input_range = "0,1";
  o.std = "";
  EXPECT_NE(test::error_of([&] { to_model_options(o, "cpu"); }).find("--mean and --std"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { to_model_options({}, "gpu"); }).find("--device"),
            std::string::npos);
}

}  // namespace
}  // namespace advtk::cli
