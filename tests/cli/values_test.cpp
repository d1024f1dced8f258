#include "cli/values.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace advtk::cli {

TEST(ParseNumber, AcceptsDecimalsAndFractions) {
  EXPECT_DOUBLE_EQ(parse_number("0.1", "--eps"), 0.1);
  EXPECT_DOUBLE_EQ(parse_number("8/255", "--eps"), 8.0 / 255.0);
  EXPECT_DOUBLE_EQ(parse_number("1e-3", "--eps"), 1e-3);
}

TEST(ParseNumber, RejectsGarbageWithTheOptionName) {
  for (const char* bad : {"", "abc", "1/0", "0.1x", "/3", "nan", "inf"}) {
    try {
      parse_number(bad, "--eps");
      FAIL() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--eps"), std::string::npos);
    }
  }
}

TEST(ParseLists, SplitsOnCommas) {
  EXPECT_EQ(parse_number_list("0.5,1/4", "--mean"), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(parse_int_list("3,32,32", "--input-shape"), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_THROW(parse_int_list("3,0,32", "--input-shape"), Error);
  EXPECT_THROW(parse_int_list("3,,32", "--input-shape"), Error);
}

TEST(Values, SplitKeepsEmptyPartsAndTheLastOne) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("a,b,,c", ','), (V{"a", "b", "", "c"}));
  EXPECT_EQ(split("", ','), V{""});
  EXPECT_EQ(split("x,", ','), (V{"x", ""}));
  EXPECT_EQ(split("C:/set.pt", ','), V{"C:/set.pt"});
}

}  // namespace advtk::cli
