// A copy of a model's parameters and buffers, by name: the best epoch kept in memory, the last
// good epoch before a collapse, and the tensors a checkpoint restores.
#pragma once

#include <string>
#include <vector>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct ModelState {
  std::vector<std::string> names;
  std::vector<torch::Tensor> tensors;  // detached clones
  bool empty() const { return tensors.empty(); }
};

ModelState capture_state(const torch::jit::Module& module);

// Copies `state` into the model's tensors in place (optimizers keep their references). Throws
// advtk::Error naming `what` when a name is missing or a shape differs.
void restore_state(Model& model, const ModelState& state, const std::string& what);

}  // namespace advtk
