#include "cli/values.h"

#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "core/split.h"

namespace advtk::cli {

std::vector<std::string> split(const std::string& text, char separator) {
  return split_text(text, separator);
}

namespace {

bool parse_plain(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

}  // namespace

double parse_number(const std::string& text, const std::string& option) {
  double value = 0;
  const auto slash = text.find('/');
  bool ok = false;
  if (slash == std::string::npos) {
    ok = parse_plain(text, value);
  } else {
    double num = 0, den = 0;
    ok = parse_plain(text.substr(0, slash), num) && parse_plain(text.substr(slash + 1), den) &&
         den != 0;
    value = ok ? num / den : 0;
  }
  ADVTK_CHECK(ok && std::isfinite(value), option, ": expected a number such as 0.1 or 8/255, got '",
              text, "'");
  return value;
}

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  std::vector<double> values;
  for (const std::string& part : split(text, ',')) values.push_back(parse_number(part, option));
  return values;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option) {
  std::vector<int64_t> values;
  for (const std::string& part : split(text, ',')) {
    char* end = nullptr;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    ADVTK_CHECK(!part.empty() && end == part.c_str() + part.size() && v > 0, option,
                ": expected comma-separated positive integers, got '", text, "'");
    values.push_back(v);
  }
  return values;
}

}  // namespace advtk::cli
