// The activations the training-data detectors read from a model, found in its TorchScript graph so
// that any scripted or traced model works: by default the input of its last linear layer (the
// last aten::linear or aten::addmm of the inlined forward graph — the penultimate representation
// Tran et al. 2018 and Chen et al. 2018 analyse), or the output of the submodule a path names
// ("features.3", "fc"), at its first call. The graph is copied and cut at that value; the copy
// runs on the model's own parameters, so nothing is cloned.
#pragma once

#include <memory>
#include <string>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

class FeatureLayer {
 public:
  // layer empty: the last linear layer's input. Throws advtk::Error, one line, when the model has
  // no such layer (naming the submodules it has, for a path).
  static FeatureLayer find(const Model& model, const std::string& layer = "");

  // x: [N, C, H, W] in the model's input range → [N, D] float features on the model's device
  // (differentiable; outputs of more than two dimensions are flattened).
  torch::Tensor operator()(const torch::Tensor& x) const;
  // Features of dataset images in [0, 1], without gradients, in batches, on the CPU.
  torch::Tensor extract(const torch::Tensor& images01, int64_t batch_size) const;

  // e.g. "input of the last linear layer (aten::addmm)" or "output of submodule fc1".
  const std::string& description() const { return description_; }

 private:
  FeatureLayer(Model model, std::shared_ptr<torch::jit::GraphFunction> function,
               std::string description);

  Model model_;
  std::shared_ptr<torch::jit::GraphFunction> function_;
  std::string description_;
};

}  // namespace advtk
