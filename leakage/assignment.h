// The one-to-one matching of reconstructions to originals that scores a batch: the assignment of
// least total cost (Kuhn 1955, "The Hungarian method"; here the O(n³) shortest-augmenting-path
// form with potentials). A nearest-original match may send two reconstructions to one original
// and inflate the scores; an assignment cannot.
#pragma once

#include <cstdint>
#include <vector>

#include "core/torch.h"

namespace advtk {

// cost: [n, n]. Returns p with row i matched to column p[i], minimising Σ cost[i][p[i]].
std::vector<int64_t> min_cost_assignment(const torch::Tensor& cost);

}  // namespace advtk
