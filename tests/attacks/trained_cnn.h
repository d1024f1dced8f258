// A zoo CNN trained on Fashion-MNIST, and helpers to attack it, for tests that need a real model.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attacks/attack_runner.h"
#include "attacks/registry.h"
#include "cached_model.h"
#include "data/data_source.h"
#include "models/zoo.h"
#include "test_util.h"
#include "training/trainer.h"

namespace advtk::test {

// The zoo CNN on 2,000 images for 2 epochs: about 85% clean accuracy.
inline Model train_cnn() {
  ZooOptions z;
  Model m = Model::wrap(build_zoo_model(Architecture::Cnn, z), {}, "cnn");
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 32;
  CrossEntropyObjective objective;
  train(m, fashion(Split::Train, 2000), nullptr, objective, o);
  return m;
}

// Trained once per build.
inline Model& trained_cnn() {
  static Model model = Model::wrap(cached_model("trained-cnn", train_cnn).module(), {}, "cnn");
  return model;
}

// `name` at each budget (a list "a,b" or a preset too), with options `c`, norm and seed in `s`.
inline std::vector<AttackRun> attack(const std::string& name, std::vector<double> budgets,
                                     OptionValues c = {}, AttackRunOptions r = {},
                                     int64_t examples = 200, const Model& model = trained_cnn(),
                                     AttackSetup s = {}) {
  return run_attack(
      model, fashion(Split::Test, examples),
      [&](double eps) {
        s.threat.eps = eps;
        return make_attack(name, s, c);
      },
      budgets, r);
}

inline AttackSetup with_norm(Norm norm, uint64_t seed = 0) {
  AttackSetup s;
  s.threat.norm = norm;
  s.seed = seed;
  return s;
}

inline double robust_accuracy(const AttackRun& run) {
  return (run.clean_pred.eq(run.y) & ~run.success).to(torch::kDouble).mean().item<double>();
}

// Skips the test when Fashion-MNIST is not installed. Each test file derives its own fixture
// (class XOnTheCnn : public test::CnnTest {}), so that its suite is named after the file; gtest
// wants one fixture class per suite across the whole binary.
class CnnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  }
};

}  // namespace advtk::test
