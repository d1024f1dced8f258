// STRIP (Gao, Xu, Wang, Chen, Ranasinghe & Nepal 2019, "STRIP: A Defence Against Trojan Attacks on
// Deep Neural Networks"): superimpose an input with clean images (pixel sums, saturated at the top
// of the range, as the authors' cv2.addWeighted(x, 1, clean, 1, 0)) and measure the entropy of the
// model's predictions over the copies. A trigger dominates every copy, so a triggered input keeps
// one prediction and a low entropy; clean inputs do not. The threshold is the `false_rejection`
// quantile of a normal fitted to the clean inputs' entropies (the paper's rule, 1% by default);
// inputs below it are flagged. N = 100 copies per input, as in the paper.
#pragma once

#include <cstdint>
#include <vector>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct StripOptions {
  int64_t copies = 100;
  double false_rejection = 0.01;
  int64_t batch_size = 500;
  uint64_t seed = 0;
};

struct StripReport {
  double threshold = 0;                  // entropy (bits)
  double clean_mean = 0, clean_std = 0;  // of the clean inputs' entropies
  double clean_flagged = 0;              // the clean inputs' own share below the threshold
  std::vector<double> entropy;           // per screened input
  std::vector<int64_t> flagged;          // positions of screened inputs below the threshold
};

// Mean prediction entropy of each input over `copies` superimpositions with images drawn from
// `pool` (all [N, C, H, W] in [0, 1]); `skip_self`: inputs are the pool (never blended with
// themselves).
std::vector<double> strip_entropy(const Model& model, const torch::Tensor& inputs,
                                  const torch::Tensor& pool, const StripOptions& options,
                                  bool skip_self);

StripReport strip_screen(const Model& model, const torch::Tensor& clean,
                         const torch::Tensor& inputs, const StripOptions& options);

}  // namespace advtk
