#include "cli/common.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace advtk::cli {
namespace {

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
