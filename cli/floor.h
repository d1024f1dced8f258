// The attack engine's floor: one forward and one input-gradient pass over every batch — what a
// gradient step must cost — and the forward pass alone. `advtk bench` divides attack times by the
// passes they made; `advtk audit` estimates its running time from the first.
#pragma once

#include <cstdint>

#include "core/torch.h"
#include "models/model.h"

namespace advtk::cli {

// Seconds for the pass over x in batches of `batch` (the device synchronised at the end). A model
// with no gradient path to its input costs its forward and a zero gradient.
double floor_seconds(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                     int64_t batch);

// Seconds for a forward pass alone over x (no gradient), as an attack's check of its points costs.
double forward_floor_seconds(const Model& model, const torch::Tensor& x, int64_t batch);

}  // namespace advtk::cli
