// One BadNets model and its clean twin, shared by the poisoning suites: the zoo CNN on 6,000
// Fashion-MNIST training images for 3 epochs, 10% of them poisoned with a 3×3 white patch towards
// class 0. Trained once per build of the test binary (ctest runs each test in a process of its
// own): the models are kept in the temp folder under the binary's modification time.
#pragma once

#include <filesystem>
#include <random>

#include "data/data_source.h"
#include "eval/evaluation.h"
#include "models/zoo.h"
#include "poisoning/poison.h"
#include "test_util.h"
#include "training/trainer.h"

namespace advtk::test {

struct BackdoorFixture {
  Model poisoned, clean;
  Dataset test;
  Trigger trigger;
  int64_t target = 0;
  torch::Tensor poison_index;
  double poisoned_accuracy = 0;
};

inline Model trained_cnn(const Dataset& data, uint64_t seed) {
  ZooOptions z;
  z.seed = seed;
  Model model = Model::wrap(build_zoo_model(Architecture::Cnn, z), {}, "cnn");
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 64;
  o.seed = seed;
  o.optimizer.kind = OptimizerKind::Adam;
  o.optimizer.lr = 1e-3;
  CrossEntropyObjective objective;
  train(model, data, nullptr, objective, o);
  return model;
}

// The model trained on `data`, read from the cache when this build already trained it.
inline Model cached_cnn(const std::string& name, const Dataset& data, uint64_t seed) {
  namespace fs = std::filesystem;
  const auto stamp = fs::last_write_time("/proc/self/exe").time_since_epoch().count();
  const fs::path dir = fs::temp_directory_path() / "advtk-test-fixtures" / std::to_string(stamp);
  const fs::path file = dir / (name + ".pt");
  if (fs::exists(file)) return Model::load(file.string(), {});
  Model model = trained_cnn(data, seed);
  fs::create_directories(dir);
  const fs::path tmp = dir / (name + ".pt." + std::to_string(std::random_device{}()));
  model.save(tmp.string());
  fs::rename(tmp, file);
  return model;
}

inline const BackdoorFixture& backdoor_fixture() {
  static const BackdoorFixture f = [] {
    const Dataset train = fashion(Split::Train, 6000);
    PoisonOptions o;
    o.rate = 0.1;
    o.target = 0;
    const PoisonedSet p = poison_dataset(train, o);
    Dataset test_data = fashion(Split::Test, 1000);
    BackdoorFixture b{cached_cnn("badnets", p.data, 1),
                      cached_cnn("clean", train, 2),
                      test_data,
                      p.trigger,
                      0,
                      p.index,
                      0};
    b.poisoned_accuracy = evaluate(b.poisoned, test_data, 500).accuracy;
    return b;
  }();
  return f;
}

}  // namespace advtk::test
