// What a federated-learning client shares, computed the way the client computes it: the gradient
// of the mean cross-entropy over its batch with respect to every parameter (FedSGD), or — with
// local steps — the weight change after K steps of SGD on that batch (FedAvg; Geiping,
// Bauermeister, Dröge & Moeller 2020 attack this case by simulating the steps). The model stays in
// eval mode. With `create_graph` the result can be differentiated again with respect to the inputs:
// the attacker's side of gradient inversion runs the same function on its dummy batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct ClientProtocol {
  int64_t local_steps = 0;  // 0: share the gradient; K: share θ_K − θ_0 after K SGD steps
  double local_lr = 1e-4;   // the local steps' learning rate (Geiping et al.'s default)
};

// Mean over the batch of −Σ_k p_k log softmax(z)_k; with one-hot p, the usual cross-entropy.
torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target_probs);

// Eval mode with trainable parameters for its lifetime (gradients are taken with respect to
// them, never accumulated into them); restores what it found.
class ParameterGradientScope {
 public:
  explicit ParameterGradientScope(Model& model);
  ~ParameterGradientScope();
  ParameterGradientScope(const ParameterGradientScope&) = delete;
  ParameterGradientScope& operator=(const ParameterGradientScope&) = delete;

 private:
  Model& model_;
  bool was_training_;
  std::vector<bool> was_trainable_;
};

// The parameters that are shared: floating-point parameters, in the module's order.
std::vector<torch::Tensor> shared_parameters(const Model& model);

// The shared object for inputs x (in the model's input range) and target distributions
// [B, K]. Local steps run the module with stand-in parameters, so a model in use by one thread
// must not be given to another at the same time when local_steps > 0.
std::vector<torch::Tensor> client_update(Model& model, const torch::Tensor& x,
                                         const torch::Tensor& target_probs,
                                         const ClientProtocol& protocol, bool create_graph);

// Helpers over lists of per-parameter tensors.
torch::Tensor flatten_all(const std::vector<torch::Tensor>& tensors);
double squared_norm(const std::vector<torch::Tensor>& tensors);
double cosine(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);

}  // namespace advtk
