// The attack options' flags, made from the registry's declarations: an option several attacks
// declare is one flag (its help lists each attack's default), an option of one attack alone
// sits in that attack's group of `advtk attack --help`.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "attacks/attack_options.h"

namespace advtk::cli {

struct AttackFlags {
  std::map<std::string, std::optional<std::string>> text;  // by option name, as typed
  std::map<std::string, std::optional<bool>> flags;        // Flag options
};

void add_attack_flags(CLI::App& cmd, AttackFlags& flags);

// The options the user gave, typed by their declarations: integers, numbers (fractions such as
// 8/255), flags, names; "auto" leaves an option without a declared default unset.
OptionValues given_options(const AttackFlags& flags);

}  // namespace advtk::cli
