// Inverting Gradients (Geiping, Bauermeister, Dröge & Moeller 2020): the dummy batch that
// minimises the cosine distance between its update and the shared one plus a total-variation
// prior, by Adam on the gradient's sign, kept inside the input box, with the step decayed ×0.1
// at 3/8, 5/8 and 7/8 of the run; labels are known (read off the output layer first). Defaults
// follow the authors' reconstruct_image.py: lr 0.1, TV weight 1e-4, 4000 iterations, dummy from
// N(0, 1); restarts run from new draws and the one whose update matches best (cosine distance,
// without the prior) is kept.
#pragma once

#include <cstdint>

#include "core/torch.h"
#include "leakage/gradient_matching.h"

namespace advtk {

struct InvertingGradientsOptions {
  int64_t iterations = 4000;
  double lr = 0.1;
  double tv = 1e-4;
  int64_t restarts = 1;
};

// problem.labels must be set.
Reconstruction run_inverting_gradients(const MatchingProblem& problem,
                                       const InvertingGradientsOptions& options,
                                       torch::Generator& gen);

}  // namespace advtk
