// The attacker's problem in gradient inversion: find a dummy batch whose client update matches
// the shared one. DLG and Inverting Gradients differ in the distance, the prior, the optimiser and
// whether labels are learnt; they share this problem, its distances and its objective.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/torch.h"
#include "leakage/shared_update.h"
#include "models/model.h"

namespace advtk {

enum class MatchDistance {
  SquaredL2,  // Σ ||u' − u||² (Zhu, Liu & Han 2019)
  Cosine,     // 1 − <u', u> / (||u'|| ||u||) over all parameters at once (Geiping et al. 2020)
};

struct MatchingProblem {
  Model* model = nullptr;             // its parameters trainable (ParameterGradientScope)
  std::vector<torch::Tensor> shared;  // the observed update
  ClientProtocol protocol;
  int64_t batch_size = 1;
  std::vector<int64_t> image_shape;  // [C, H, W]
  int64_t num_classes = 0;
  // Known labels [B] (iDLG, Inverting Gradients); undefined: soft labels are learnt (DLG).
  torch::Tensor labels;
};

struct Reconstruction {
  torch::Tensor x;       // [B, C, H, W] in the model's input range
  torch::Tensor labels;  // [B] int64; −1 where nothing could be read
};

torch::Tensor match_distance(const std::vector<torch::Tensor>& dummy,
                             const std::vector<torch::Tensor>& target, MatchDistance distance);

// The mean absolute difference of horizontal plus vertical neighbours (Inverting Gradients' TV).
torch::Tensor total_variation(const torch::Tensor& x);

// The distance of the update that `x` with `probs` [B, K] gives, as a differentiable scalar.
torch::Tensor matching_objective(const MatchingProblem& problem, const torch::Tensor& x,
                                 const torch::Tensor& probs, MatchDistance distance);

// A random dummy in the model's input range: lo + (hi − lo)·N(0, 1), DLG's randn init on [0, 1].
torch::Tensor random_dummy(const MatchingProblem& problem, torch::Generator& gen);

// Whether the model's parameter gradient can be differentiated again with respect to its input.
// Returns the reason (naming the operation LibTorch reports) when it cannot.
std::optional<std::string> second_order_failure(Model& model,
                                                const std::vector<int64_t>& image_shape,
                                                int64_t num_classes,
                                                const ClientProtocol& protocol);

}  // namespace advtk
