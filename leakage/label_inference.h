// Labels read off the output layer's shared gradient, before any optimisation.
//
// For a last layer z = W h + b under cross-entropy, ∂L/∂b_c = mean_i (p_ic − y_ic) and
// ∂L/∂W_c = mean_i (p_ic − y_ic) h_i. With one example (Zhao, Mopuri & Bilen 2020, iDLG) only
// the true class has p − y < 0, so it is the class whose bias gradient — or, without a bias, the
// sum of whose weight-gradient row, when h ≥ 0 as after ReLU or sigmoid — is negative: the
// smallest. For a batch, the label-count rule of Wainakh et al. 2022 (LLG): every class with a
// negative entry is present at least once; each of them is credited one example's share m (the
// negative entries' sum over the batch size), and the remaining places go one by one to the class
// whose entry, after its credits, is still the most negative.
//
// A float32 softmax of exactly 1 on the true class makes p − y exactly zero: the example leaves
// nothing to read, and its label is reported as −1 (unreadable) rather than guessed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/torch.h"

namespace advtk {

struct OutputLayer {
  int64_t weight = -1;  // index of the [K, F] weight in the parameter list
  int64_t bias = -1;    // index of its [K] bias, or −1
};

// The last parameter shaped [K, F] (K = num_classes), with the [K] parameter right after it as
// its bias when there is one. Empty when the model has none.
std::optional<OutputLayer> find_output_layer(const std::vector<torch::Tensor>& params,
                                             int64_t num_classes);

// `sign` is +1 for a shared gradient and −1 for a shared weight change (which points against
// the gradient). Returns batch_size labels, sorted; −1 for places with nothing to read.
std::vector<int64_t> infer_labels(const std::vector<torch::Tensor>& shared,
                                  const OutputLayer& layer, int64_t batch_size, double sign);

}  // namespace advtk
