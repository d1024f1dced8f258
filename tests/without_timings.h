// A report or summary without its timings, which differ from run to run: what resumed and
// uninterrupted runs must agree on figure for figure.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace advtk::test {

inline nlohmann::json without_timings(nlohmann::json j) {
  static const std::set<std::string> timing = {"seconds", "stage_seconds", "wall_seconds_this_run"};
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& [k, v] : j.items())
      if (!timing.count(k)) out[k] = without_timings(v);
    return out;
  }
  if (j.is_array())
    for (auto& v : j) v = without_timings(v);
  return j;
}

}  // namespace advtk::test
