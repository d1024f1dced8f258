// Deep Leakage from Gradients (Zhu, Liu & Han 2019): a dummy input and a dummy soft label,
// optimised together so that their gradient matches the shared one in squared L2 distance. The
// authors' recipe: dummy input and label from N(0, 1), torch's L-BFGS with lr 1 (its defaults:
// 20 inner iterations, 25 evaluations, history 100, no line search), 300 steps. Adam (lr 0.1) is
// the option for models where L-BFGS diverges.
//
// A run can settle in a poor local minimum (here about one draw in twenty on the paper's LeNet):
// restarts draw again and keep the closest match, stopping once one matches to kMatched of the
// shared update's squared norm.
//
// iDLG (Zhao, Mopuri & Bilen 2020) is the same optimisation with the label fixed — read off the
// output layer's gradient (label_inference.h) — instead of learnt.
#pragma once

#include <cstdint>

#include "core/torch.h"
#include "leakage/gradient_matching.h"

namespace advtk {

enum class DlgOptimizer { Lbfgs, Adam };

struct DlgOptions {
  DlgOptimizer optimizer = DlgOptimizer::Lbfgs;
  int64_t iterations = 300;  // optimiser steps (each L-BFGS step runs up to 20 inner iterations)
  double lr = 1.0;
  int64_t restarts = 1;  // the authors' single run
};

// A squared L2 distance below this fraction of ||u||² counts as matched (no further restarts).
inline constexpr double kMatched = 1e-8;

// The lowest-distance point met, with its labels (the learnt soft label's argmax, or the fixed
// ones). A run that diverges to NaN keeps the best point before it.
Reconstruction run_dlg(const MatchingProblem& problem, const DlgOptions& options,
                       torch::Generator& gen);

}  // namespace advtk
