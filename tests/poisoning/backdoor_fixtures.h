// Poisoned models and clean twins, shared by the poisoning suites: the zoo CNN on 6,000
// Fashion-MNIST training images for 3 epochs, 10% of them poisoned towards class 0 — BadNets
// (a 3×3 white patch), Blend, label flips — and two clean models of other seeds; also LeNets of
// the BadNets, Blend and clean sets (10 epochs), for the Neural Cleanse tests. Each is trained
// once per build of the test binary, when a test first asks for it (ctest runs each test in a
// process of its own; tests/cached_model.h).
#pragma once

#include <map>

#include "cached_model.h"
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

// The zoo CNN for 3 epochs, or the zoo LeNet (a tenth of its multiply-adds: Neural Cleanse's
// tests use it) for 10.
inline Model trained_model(const Dataset& data, uint64_t seed, Architecture arch) {
  ZooOptions z;
  z.seed = seed;
  Model model = Model::wrap(build_zoo_model(arch, z), {}, architecture_name(arch));
  TrainOptions o;
  o.epochs = arch == Architecture::LeNet ? 10 : 3;
  o.batch_size = 64;
  o.seed = seed;
  o.optimizer.kind = OptimizerKind::Adam;
  o.optimizer.lr = 1e-3;
  CrossEntropyObjective objective;
  train(model, data, nullptr, objective, o);
  return model;
}

// The model trained on `data`, read from the cache when this build already trained it.
inline Model cached_model(const std::string& name, const Dataset& data, uint64_t seed,
                          Architecture arch = Architecture::Cnn) {
  return cached_model(name, [&] { return trained_model(data, seed, arch); });
}

inline const Dataset& clean_train_set() {
  static const Dataset d = fashion(Split::Train, 6000);
  return d;
}

struct PoisonedModel {
  PoisonedSet set;
  Model model;
};

// The training set poisoned by `attack` (10% towards class 0).
inline const PoisonedSet& poisoned_set(PoisonAttack attack) {
  static std::map<PoisonAttack, PoisonedSet> sets;  // references into a map stay valid
  auto it = sets.find(attack);
  if (it == sets.end()) {
    PoisonOptions o;
    o.attack = attack;
    o.rate = 0.1;
    o.target = 0;
    it = sets.emplace(attack, poison_dataset(clean_train_set(), o)).first;
  }
  return it->second;
}

// That set and the CNN trained on it (seeds 1, 3 and 4 for BadNets, Blend and label flips).
inline const PoisonedModel& poisoned_model(PoisonAttack attack) {
  static std::map<PoisonAttack, PoisonedModel> models;
  auto it = models.find(attack);
  if (it == models.end()) {
    const std::map<PoisonAttack, uint64_t> seed = {
        {PoisonAttack::BadNets, 1}, {PoisonAttack::Blend, 3}, {PoisonAttack::LabelFlip, 4}};
    const PoisonedSet& set = poisoned_set(attack);
    it = models
             .emplace(attack, PoisonedModel{set, cached_model(poison_attack_name(attack), set.data,
                                                              seed.at(attack))})
             .first;
  }
  return it->second;
}

// A clean model: seed 2 (the BadNets model's twin) or 5.
inline const Model& clean_model(int which) {
  static const Model first = cached_model("clean", clean_train_set(), 2);
  if (which == 0) return first;
  static const Model second = cached_model("clean-5", clean_train_set(), 5);
  return second;
}

// LeNets of the BadNets and Blend sets and of the clean set (seeds 2 and 5): Neural Cleanse's
// tests.
enum class LeNetKind { BadNets, Blend, Clean, Clean5 };
inline const Model& lenet(LeNetKind kind) {
  switch (kind) {
    case LeNetKind::BadNets: {
      static const Model m = cached_model("lenet-badnets", poisoned_set(PoisonAttack::BadNets).data,
                                          1, Architecture::LeNet);
      return m;
    }
    case LeNetKind::Blend: {
      static const Model m = cached_model("lenet-blend", poisoned_set(PoisonAttack::Blend).data, 3,
                                          Architecture::LeNet);
      return m;
    }
    case LeNetKind::Clean: {
      static const Model m = cached_model("lenet-clean", clean_train_set(), 2, Architecture::LeNet);
      return m;
    }
    case LeNetKind::Clean5:
      break;
  }
  static const Model m = cached_model("lenet-clean-5", clean_train_set(), 5, Architecture::LeNet);
  return m;
}

inline const BackdoorFixture& backdoor_fixture() {
  static const BackdoorFixture f = [] {
    const PoisonedModel& p = poisoned_model(PoisonAttack::BadNets);
    Dataset test_data = fashion(Split::Test, 1000);
    BackdoorFixture b{p.model, clean_model(0), test_data, p.set.trigger, 0, p.set.index, 0};
    b.poisoned_accuracy = evaluate(b.poisoned, test_data, 500).accuracy;
    return b;
  }();
  return f;
}

}  // namespace advtk::test
