// advtk data end to end: the summary of a data source.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace advtk {
namespace {

using test::run_advtk;

TEST(DataCommand, DataSummarisesASource) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto r = run_advtk("data --json --limit 100 --offset 50");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("examples"), 100);
  EXPECT_EQ(j.at("shape"), nlohmann::json({1, 28, 28}));
  int64_t total = 0;
  for (const auto& c : j.at("class_counts")) total += c.get<int64_t>();
  EXPECT_EQ(total, 100);
}

}  // namespace
}  // namespace advtk
