// advtk leak from the command line: its outputs as documented, and bad input as exit 2 with one
// line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/tensor_file.h"
#include "test_util.h"

namespace advtk {
namespace {

TEST(LeakCommand, WritesLeakJsonReconstructionsAndAGrid) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  test::TempDir tmp;
  const std::string model = tmp.file("net/model.pt"), out = tmp.file("leak");
  ASSERT_EQ(test::run_advtk("train --arch dlg-lenet --epochs 0 --out " + tmp.file("net")).exit_code,
            0);
  const auto r = test::run_advtk("leak " + model + " --attack idlg --limit 2 --iterations 100 " +
                                 "--defense none --defense prune=0.5 -q --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("prune=0.5"), std::string::npos) << r.out;
  std::ifstream in(out + "/leak.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["attack"], "idlg");
  EXPECT_EQ(j["defense"], "none");
  EXPECT_EQ(j["batch_size"], 1);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["defense"], "prune=0.5");
  ASSERT_EQ(j["batches"].size(), 2u);
  for (const char* key : {"ids", "psnr", "ssim", "mse", "labels_true", "labels_recovered",
                          "gradient_distance", "seconds"})
    EXPECT_TRUE(j["batches"][0].contains(key)) << key;
  EXPECT_EQ(j["batches"][1]["ids"], nlohmann::json::array({1}));
  EXPECT_GT(j["median_psnr"].get<double>(), j["runs"][1]["median_psnr"].get<double>());
  EXPECT_EQ(j["label_accuracy"], 1.0);
  const auto t = load_tensor_dict(out + "/reconstruction.pt");
  for (const char* key : {"x", "x_rec", "y", "y_rec", "ids", "x_rec_1", "y_rec_1"})
    EXPECT_TRUE(t.count(key)) << key;
  EXPECT_EQ(t.at("x_rec").sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_TRUE(std::filesystem::exists(out + "/grid.png"));
}

TEST(LeakCommand, BadInputIsOneLineAndExitTwo) {
  test::TempDir tmp;
  const std::string data =
      " --data npy:" + test::fixture("nchw_f64_x.npy") + "," + test::fixture("nchw_f64_y.npy");
  ASSERT_EQ(
      test::run_advtk("train --arch cnn --epochs 0" + data + " --out " + tmp.file("cnn")).exit_code,
      0);
  const std::string model = tmp.file("cnn/model.pt");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--attack idlg --defense prune=1", "prune"},
      {"--attack idlg --defense blur=1", "--defense blur=1"},
      {"--attack nope", "--attack"},
      {"--attack analytic", "first fully-connected layer"},
      {"--attack idlg --batch-size 1000", "--batch-size"},
      {"--attack idlg --optimizer sgd", "--optimizer"},
  };
  for (const auto& [args, expected] : cases) {
    const auto r = test::run_advtk("leak " + model + data + " " + args + " --out " + tmp.file("o"));
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\n" << r.err;
    EXPECT_EQ(r.err.find("terminate"), std::string::npos) << args;
  }
}

}  // namespace
}  // namespace advtk
