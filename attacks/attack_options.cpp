#include "attacks/attack_options.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace advtk {
namespace {

std::string kind_name(OptionKind kind) {
  switch (kind) {
    case OptionKind::Integer:
      return "an integer";
    case OptionKind::Real:
      return "a number";
    case OptionKind::Flag:
      return "true or false";
    case OptionKind::Choice:
      return "a name";
  }
  return "";
}

bool fits(const OptionSpec& spec, const OptionValue& v) {
  switch (spec.kind) {
    case OptionKind::Integer:
      return std::holds_alternative<int64_t>(v);
    case OptionKind::Real:
      return std::holds_alternative<double>(v) || std::holds_alternative<int64_t>(v);
    case OptionKind::Flag:
      return std::holds_alternative<bool>(v);
    case OptionKind::Choice:
      return std::holds_alternative<std::string>(v);
  }
  return false;
}

// A Real option given as an integer (restarts-like literals in code) reads as a double.
OptionValue normalised(const OptionSpec& spec, const OptionValue& v) {
  if (spec.kind == OptionKind::Real && std::holds_alternative<int64_t>(v))
    return static_cast<double>(std::get<int64_t>(v));
  return v;
}

// "--steps: expected at least 1, got 0", in the words the attacks' own checks use.
void check_range(const OptionSpec& spec, const OptionValue& v) {
  const std::string flag = "--" + spec.name;
  if (spec.kind == OptionKind::Choice) {
    const std::string& s = std::get<std::string>(v);
    if (std::find(spec.choices.begin(), spec.choices.end(), s) != spec.choices.end()) return;
    std::string all;
    for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
    throw Error(flag + ": expected one of " + all + ", got '" + s + "'");
  }
  if (spec.kind == OptionKind::Flag) return;
  const double x = spec.kind == OptionKind::Integer ? static_cast<double>(std::get<int64_t>(v))
                                                    : std::get<double>(v);
  const std::string got = spec.kind == OptionKind::Integer ? std::to_string(std::get<int64_t>(v))
                                                           : concat(std::get<double>(v));
  ADVTK_CHECK(!std::isnan(x), flag, ": expected a number, got nan");
  const bool low_ok = spec.min_exclusive ? x > spec.min : x >= spec.min;
  const bool high_ok = x <= spec.max;
  if (low_ok && high_ok) return;
  const bool bounded_above = std::isfinite(spec.max);
  if (!bounded_above) {
    if (spec.kind == OptionKind::Integer && !spec.min_exclusive)
      throw Error(flag + ": expected at least " + concat(spec.min) + ", got " + got);
    throw Error(flag + ": expected " + (spec.min_exclusive ? "> " : ">= ") + concat(spec.min) +
                ", got " + got);
  }
  throw Error(flag + ": expected a value in " + (spec.min_exclusive ? "(" : "[") +
              concat(spec.min) + ", " + concat(spec.max) + "], got " + got);
}

}  // namespace

OptionSpec integer_option(std::string name, int64_t default_value, int64_t min, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.kind = OptionKind::Integer;
  s.default_value = default_value;
  s.min = static_cast<double>(min);
  s.help = std::move(help);
  return s;
}

OptionSpec real_option(std::string name, std::optional<double> default_value, double min,
                       double max, std::string help, bool min_exclusive) {
  OptionSpec s;
  s.name = std::move(name);
  s.kind = OptionKind::Real;
  if (default_value) s.default_value = *default_value;
  s.min = min;
  s.max = max;
  s.min_exclusive = min_exclusive;
  s.help = std::move(help);
  return s;
}

OptionSpec flag_option(std::string name, bool default_value, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.kind = OptionKind::Flag;
  s.default_value = default_value;
  s.help = std::move(help);
  return s;
}

OptionSpec choice_option(std::string name, std::string default_value,
                         std::vector<std::string> choices, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.kind = OptionKind::Choice;
  s.default_value = std::move(default_value);
  s.choices = std::move(choices);
  s.help = std::move(help);
  return s;
}

std::string default_text(const OptionSpec& spec) {
  if (!spec.default_value) return spec.auto_default;
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "on" : "off";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, double>) {
          return concat(v);
        } else {
          return std::to_string(v);
        }
      },
      *spec.default_value);
}

OptionValues& OptionValues::set(const std::string& name, OptionValue value) {
  values_[name] = std::move(value);
  return *this;
}

const OptionValue& OptionValues::at(const std::string& name) const {
  const auto it = values_.find(name);
  ADVTK_CHECK(it != values_.end(), "internal: option '", name, "' has no value");
  return it->second;
}

int64_t OptionValues::integer(const std::string& name) const {
  const OptionValue& v = at(name);
  ADVTK_CHECK(std::holds_alternative<int64_t>(v), "internal: option '", name,
              "' is not an integer");
  return std::get<int64_t>(v);
}

double OptionValues::real(const std::string& name) const {
  const OptionValue& v = at(name);
  if (std::holds_alternative<int64_t>(v)) return static_cast<double>(std::get<int64_t>(v));
  ADVTK_CHECK(std::holds_alternative<double>(v), "internal: option '", name, "' is not a number");
  return std::get<double>(v);
}

bool OptionValues::flag(const std::string& name) const {
  const OptionValue& v = at(name);
  ADVTK_CHECK(std::holds_alternative<bool>(v), "internal: option '", name, "' is not a flag");
  return std::get<bool>(v);
}

const std::string& OptionValues::choice(const std::string& name) const {
  const OptionValue& v = at(name);
  ADVTK_CHECK(std::holds_alternative<std::string>(v), "internal: option '", name,
              "' is not a name");
  return std::get<std::string>(v);
}

std::optional<double> OptionValues::maybe_real(const std::string& name) const {
  if (!has(name)) return std::nullopt;
  return real(name);
}

OptionValues resolve_options(const std::string& attack, const std::vector<OptionSpec>& specs,
                             const OptionValues& given, bool strict) {
  OptionValues out;
  for (const OptionSpec& spec : specs) {
    if (given.has(spec.name)) {
      const OptionValue& v = given.all().at(spec.name);
      ADVTK_CHECK(fits(spec, v), "--", spec.name, ": expected ", kind_name(spec.kind));
      const OptionValue value = normalised(spec, v);
      check_range(spec, value);
      out.set(spec.name, value);
    } else if (spec.default_value) {
      out.set(spec.name, *spec.default_value);
    }
  }
  if (strict) {
    for (const auto& [name, value] : given.all()) {
      const bool declared = std::any_of(specs.begin(), specs.end(),
                                        [&](const OptionSpec& s) { return s.name == name; });
      ADVTK_CHECK(declared, "--", name, ": ", attack, " has no such option");
    }
  }
  return out;
}

nlohmann::json options_json(const OptionValues& values) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : values.all())
    std::visit([&](const auto& v) { j[name] = v; }, value);
  return j;
}

}  // namespace advtk
