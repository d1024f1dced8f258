// The closed-form attack on a first fully-connected layer with bias (Phong, Aono, Hayashi, Wang
// & Moriai 2017, "Privacy-preserving deep learning via additively homomorphic encryption"):
// with u = W z + b on the module's input z, ∂L/∂W_j = (∂L/∂b_j) z for every unit j, so one
// example's input is any row ratio ∂L/∂W_j ÷ ∂L/∂b_j. advtk takes the least-squares ratio over
// all rows, z = Σ_j g_j w_j / Σ_j g_j² (g = ∂L/∂b, w_j = ∂L/∂W_j), which is exact for batch 1 and
// numerically the steadiest. For a batch the shared rows are mixtures — row j is the batch's
// inputs weighted by their share of unit j's gradient, a single input where unit j was active for
// it alone (after a ReLU) — and advtk returns the B single-row ratios that lie farthest apart
// (greedy farthest-point selection, starting from the row with the largest |g_j|), among the
// ratios that stay inside the input box (a mixture of gradients of opposite signs extrapolates
// beyond its examples).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct FirstLinearLayer {
  int64_t weight = -1;  // index of the [U, D] weight, D = the input's size
  int64_t bias = -1;    // index of its [U] bias
};

// The model's first parameter, when it is a [U, D] weight followed by a [U] bias and D is the
// size of one input (C·H·W).
std::optional<FirstLinearLayer> find_first_linear_layer(const std::vector<torch::Tensor>& params,
                                                        int64_t input_size);

// Reconstructs batch_size inputs [B, C, H, W] in [0, 1] from the shared gradient, undoing the
// model's normalisation, layout and input range. `sign` as in infer_labels (a weight change
// scales both numerator and denominator alike, so the ratio does not care).
torch::Tensor analytic_inversion(const std::vector<torch::Tensor>& shared,
                                 const FirstLinearLayer& layer, int64_t batch_size,
                                 const std::vector<int64_t>& image_shape, const Model& model);

}  // namespace advtk
