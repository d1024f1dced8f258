// The picture of Neural Cleanse's reverse-engineered triggers, one column per searched class: its
// mask (captioned with its L1 norm) above mask × pattern (captioned with its anomaly index) — the
// same in advtk backdoor's triggers.png and the audit's.
#pragma once

#include <cmath>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "audit/image_grid.h"

namespace advtk {

// A per-class JSON array with null for the classes not searched, as numbers (NaN for null).
inline std::vector<double> numbers_or_nan(const nlohmann::json& a) {
  std::vector<double> out;
  for (const auto& v : a)
    out.push_back(v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN());
  return out;
}

inline std::vector<ImageRow> trigger_image_rows(const torch::Tensor& masks,
                                                const torch::Tensor& patterns,
                                                const std::vector<int64_t>& searched,
                                                const std::vector<double>& mask_norm,
                                                const std::vector<double>& anomaly_index) {
  const torch::Tensor pick = torch::tensor(searched, torch::kLong);
  const torch::Tensor m_shown = masks.index_select(0, pick);
  ImageRow m{"mask", m_shown, {}},
      p{"mask x pattern", m_shown * patterns.index_select(0, pick), {}};
  for (int64_t c : searched) {
    std::ostringstream norm, index;
    norm << "class " << c << ": " << std::fixed << std::setprecision(0) << mask_norm[c];
    index << "index " << std::fixed << std::setprecision(2) << anomaly_index[c];
    m.captions.push_back(norm.str());
    p.captions.push_back(index.str());
  }
  return {m, p};
}

}  // namespace advtk
