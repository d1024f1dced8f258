// Fractions as the reports print them.
#pragma once

#include <cstdio>
#include <string>

namespace advtk {

// 0.1234 → "12.3%".
inline std::string percent(double fraction) {
  char s[32];
  std::snprintf(s, sizeof s, "%.1f%%", 100 * fraction);
  return s;
}

}  // namespace advtk
