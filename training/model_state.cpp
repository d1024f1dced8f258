#include "training/model_state.h"

#include <map>

#include "core/error.h"

namespace advtk {

ModelState capture_state(const torch::jit::Module& module) {
  ModelState s;
  torch::NoGradGuard no_grad;
  for (const auto& p : module.named_parameters()) {
    s.names.push_back(p.name);
    s.tensors.push_back(p.value.detach().clone());
  }
  for (const auto& b : module.named_buffers()) {
    s.names.push_back(b.name);
    s.tensors.push_back(b.value.detach().clone());
  }
  return s;
}

void restore_state(Model& model, const ModelState& state, const std::string& what) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& p : model.module().named_parameters()) targets.emplace(p.name, p.value);
  for (const auto& b : model.module().named_buffers()) targets.emplace(b.name, b.value);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < state.tensors.size(); ++i) {
    const auto it = targets.find(state.names[i]);
    ADVTK_CHECK(it != targets.end(), what, ": ", state.names[i], " is not in the model");
    ADVTK_CHECK(it->second.sizes() == state.tensors[i].sizes(), what, ": ", state.names[i],
                " has shape ", state.tensors[i].sizes(), " there but ", it->second.sizes(),
                " in the model");
    it->second.copy_(state.tensors[i]);
  }
}

}  // namespace advtk
