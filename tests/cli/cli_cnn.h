// A zoo CNN trained by `advtk train` (2,000 Fashion-MNIST images, 1 epoch, 1 thread) once per
// build, for the CLI suites that run advtk on a model file; skipped without the dataset.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "cached_model.h"
#include "test_util.h"

namespace advtk::test {

class CliCnnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fashion_mnist_available()) return;
    std::string err;
    folder_ = cached_folder("cli-cnn", [&](const std::string& dir) {
      const auto r = run_advtk(
          "train --arch cnn --data fashion-mnist --limit 2000 --epochs 1 --threads 1 --quiet "
          "--out '" +
          dir + "/cnn'");
      err = r.err;
      return r.exit_code == 0;
    });
    ASSERT_FALSE(folder_.empty()) << err;
  }
  void SetUp() override {
    if (!fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
    if (folder_.empty()) GTEST_FAIL() << "the CNN was not trained (see the suite's set-up)";
  }
  static std::string model() { return folder_ + "/cnn/model.pt"; }

 private:
  inline static std::string folder_;
};

}  // namespace advtk::test
