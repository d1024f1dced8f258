// Fixtures shared by the leakage suites: the DLG paper's sigmoid LeNet and an MLP, untrained as
// gradient-inversion papers take them, and a client's shared gradient.
#pragma once

#include <vector>

#include "core/seeding.h"
#include "leakage/gradient_defense.h"
#include "leakage/gradient_matching.h"
#include "leakage/shared_update.h"
#include "models/model.h"
#include "models/zoo.h"
#include "test_util.h"

namespace advtk::test {

inline Model leak_model(Architecture arch, uint64_t seed = 0, const ModelOptions& options = {}) {
  ZooOptions zoo;
  zoo.seed = seed;
  return Model::wrap(build_zoo_model(arch, zoo), options, architecture_name(arch));
}

// The undefended gradient of the mean cross-entropy on (x, y), as a client shares it.
inline std::vector<torch::Tensor> shared_gradient(Model& model, const torch::Tensor& x,
                                                  const torch::Tensor& y,
                                                  const ClientProtocol& protocol = {}) {
  ParameterGradientScope scope(model);
  torch::Generator gen = make_generator(0);
  return share_update(model, x, y, 10, protocol, GradientDefense{}, gen).shared;
}

// The attacker's problem for one Fashion-MNIST-shaped batch of the given shared update; labels
// unset (learnt) unless given.
inline MatchingProblem fashion_problem(Model& model, const std::vector<torch::Tensor>& shared,
                                       const torch::Tensor& labels = {}) {
  MatchingProblem p;
  p.model = &model;
  p.shared = shared;
  p.image_shape = {1, 28, 28};
  p.num_classes = 10;
  p.labels = labels;
  return p;
}

}  // namespace advtk::test
