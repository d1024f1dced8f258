// An attack's options as plain data, declared once beside the attack: name, kind, default, range,
// help. The CLI makes its flags and help from the declarations (cli/attack_flags.cpp); the
// library validates given values against them and fills the defaults (no CLI11 here).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace advtk {

enum class OptionKind { Integer, Real, Flag, Choice };

using OptionValue = std::variant<int64_t, double, bool, std::string>;

struct OptionSpec {
  std::string name;  // the flag without its dashes: "steps" is --steps
  OptionKind kind = OptionKind::Integer;
  // Unset: the attack computes its default (e.g. PGD's step 2.5·ε/steps); `auto_default` says how.
  std::optional<OptionValue> default_value;
  std::string auto_default;
  double min = -std::numeric_limits<double>::infinity();  // Integer and Real
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;        // (min, max] instead of [min, max]
  std::vector<std::string> choices;  // Choice
  std::string help;                  // what it does, without the default
};

// Builders for the declarations: integer("steps", 40, 1, "iterations").
OptionSpec integer_option(std::string name, int64_t default_value, int64_t min, std::string help);
OptionSpec real_option(std::string name, std::optional<double> default_value, double min,
                       double max, std::string help, bool min_exclusive = false);
OptionSpec flag_option(std::string name, bool default_value, std::string help);
OptionSpec choice_option(std::string name, std::string default_value,
                         std::vector<std::string> choices, std::string help);

// The default as the help shows it: "40", "0.8", "ce", or the auto_default text.
std::string default_text(const OptionSpec& spec);

// Option values by name: what a user gave, or an attack's resolved options.
class OptionValues {
 public:
  OptionValues() = default;
  OptionValues& set(const std::string& name, OptionValue value);
  // One overload per kind, so that no literal converts silently (0.01 to an int, "dlr" or an
  // int to a bool).
  OptionValues& set(const std::string& name, int64_t v) { return set(name, OptionValue(v)); }
  OptionValues& set(const std::string& name, int v) { return set(name, int64_t{v}); }
  OptionValues& set(const std::string& name, double v) { return set(name, OptionValue(v)); }
  OptionValues& set(const std::string& name, bool v) { return set(name, OptionValue(v)); }
  OptionValues& set(const std::string& name, const char* v) {
    return set(name, OptionValue(std::string(v)));
  }
  OptionValues& set(const std::string& name, std::string v) {
    return set(name, OptionValue(std::move(v)));
  }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  void erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, OptionValue>& all() const { return values_; }

  // Typed reads of a resolved value; throw advtk::Error when it is missing or of another kind.
  int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  bool flag(const std::string& name) const;
  const std::string& choice(const std::string& name) const;
  // A Real option without a declared default: unset unless given.
  std::optional<double> maybe_real(const std::string& name) const;

 private:
  const OptionValue& at(const std::string& name) const;
  std::map<std::string, OptionValue> values_;
};

// The values of one attack: each declared option from `given` when there (checked against its
// kind and range: "--steps: expected at least 1, got 0"), else its default. Options in `given`
// that the attack does not declare are left out; `strict` makes them an error instead.
OptionValues resolve_options(const std::string& attack, const std::vector<OptionSpec>& specs,
                             const OptionValues& given, bool strict);

// The resolved values as JSON, by option name (for summary.json and report.json).
nlohmann::json options_json(const OptionValues& values);

}  // namespace advtk
