// advtk poison from the command line: a set that advtk train reads back, the index of what
// changed, and bad options as one line with exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "test_util.h"

namespace advtk {
namespace {

TEST(PoisonCommand, WritesASetThatLoadsAsDataWithItsIndexAndTrigger) {
  const std::string data =
      " --data npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");
  test::TempDir tmp;
  const std::string out = tmp.file("p");
  const auto r = test::run_advtk(
      "poison" + data + " --attack badnets --rate 0.34 --target 1 --trigger-size 2 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f :
       {"x.npy", "y.npy", "poison_index.npy", "trigger.pt", "trigger.png", "poison.json"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  const torch::Tensor index = read_npy(out + "/poison_index.npy");
  ASSERT_EQ(index.numel(), 1);  // round(0.34 × 3)
  const torch::Tensor y = read_npy(out + "/y.npy");
  EXPECT_EQ(y[index[0].item<int64_t>()].item<int64_t>(), 1);
  const auto j = nlohmann::json::parse(test::read_bytes(out + "/poison.json"));
  EXPECT_EQ(j["poisoned"], 1);
  EXPECT_EQ(j["attack"], "badnets");
  const auto d = test::run_advtk("data --data npy:" + out + "/x.npy," + out + "/y.npy");
  EXPECT_EQ(d.exit_code, 0) << d.err;
}

TEST(PoisonCommand, BadOptionsAreOneLineAndExitTwo) {
  const std::string data =
      " --data npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");
  test::TempDir tmp;
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {"--target 9", "--target"},
           {"--rate 1.5", "--rate"},
           {"--rate 0", "--rate"},
           {"--rate 0.34 --trigger-size 6", "--trigger-size"},
           {"--rate 0.34 --attack blend --alpha 2", "--alpha"},
           {"--attack sleeper", "--attack"},
           {"--corner middle", "--corner"}}) {
    const auto r = test::run_advtk("poison" + data + " " + args + " --out " + tmp.file("o"));
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace advtk
