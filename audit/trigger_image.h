// The picture of Neural Cleanse's reverse-engineered triggers, one column per class: its mask
// (captioned with its L1 norm) above mask × pattern (captioned with its anomaly index) — the same
// in advtk backdoor's triggers.png and the audit's.
#pragma once

#include <iomanip>
#include <sstream>
#include <vector>

#include "audit/image_grid.h"

namespace advtk {

inline std::vector<ImageRow> trigger_image_rows(const torch::Tensor& masks,
                                                const torch::Tensor& patterns,
                                                const std::vector<double>& mask_norm,
                                                const std::vector<double>& anomaly_index) {
  ImageRow m{"mask", masks, {}}, p{"mask x pattern", masks * patterns, {}};
  for (size_t c = 0; c < mask_norm.size(); ++c) {
    std::ostringstream norm, index;
    norm << "class " << c << ": " << std::fixed << std::setprecision(0) << mask_norm[c];
    index << "index " << std::fixed << std::setprecision(2) << anomaly_index[c];
    m.captions.push_back(norm.str());
    p.captions.push_back(index.str());
  }
  return {m, p};
}

}  // namespace advtk
