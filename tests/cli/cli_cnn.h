// A zoo CNN trained by `advtk train` (2,000 Fashion-MNIST images, 1 epoch, 1 thread) once per
// suite, for the CLI suites that run advtk on a model file; skipped without the dataset.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace advtk::test {

class CliCnnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fashion_mnist_available()) return;
    dir_ = new TempDir;
    const auto r = run_advtk(
        "train --arch cnn --data fashion-mnist --limit 2000 --epochs 1 --threads 1 --quiet "
        "--out '" +
        dir_->file("cnn") + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
  static std::string model() { return dir_->file("cnn/model.pt"); }

 private:
  inline static TempDir* dir_ = nullptr;
};

}  // namespace advtk::test
