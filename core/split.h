// Splitting option values and path lists.
#pragma once

#include <string>
#include <vector>

namespace advtk {

// "a,b,,c" → {"a", "b", "", "c"}; "" → {""}.
inline std::vector<std::string> split_text(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t pos; (pos = text.find(separator, start)) != std::string::npos; start = pos + 1)
    parts.push_back(text.substr(start, pos - start));
  parts.push_back(text.substr(start));
  return parts;
}

}  // namespace advtk
