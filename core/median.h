// The median of a list of numbers (the mean of the two middle ones for an even count; 0 for none).
#pragma once

#include <algorithm>
#include <vector>

namespace advtk {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace advtk
