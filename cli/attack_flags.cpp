#include "cli/attack_flags.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "attacks/registry.h"
#include "cli/values.h"
#include "core/error.h"

namespace advtk::cli {
namespace {

// Every attack declaring the option, in registry order (presets declare none).
std::vector<std::pair<const AttackInfo*, const OptionSpec*>> declarations(const std::string& name) {
  std::vector<std::pair<const AttackInfo*, const OptionSpec*>> out;
  for (const AttackInfo& info : attack_registry())
    for (const OptionSpec& spec : info.options)
      if (spec.name == name) out.emplace_back(&info, &spec);
  return out;
}

// "pgd, cw-linf 40; apgd 100": attacks grouped by their default, in order of first appearance.
std::string defaults_by_attack(
    const std::vector<std::pair<const AttackInfo*, const OptionSpec*>>& decl) {
  std::vector<std::pair<std::string, std::string>> groups;  // default, attacks
  for (const auto& [info, spec] : decl) {
    const std::string d = default_text(*spec);
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == d; });
    if (it == groups.end()) {
      groups.emplace_back(d, info->name);
    } else {
      it->second += ", " + info->name;
    }
  }
  std::string s;
  for (const auto& [d, attacks] : groups) s += (s.empty() ? "" : "; ") + attacks + " " + d;
  return s;
}

int64_t parse_integer(const std::string& text, const std::string& flag) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  ADVTK_CHECK(!text.empty() && end == text.c_str() + text.size() && errno == 0, flag,
              ": expected an integer, got '", text, "'");
  return v;
}

}  // namespace

void add_attack_flags(CLI::App& cmd, AttackFlags& flags) {
  // Option names in order of first declaration.
  std::vector<std::string> names;
  for (const AttackInfo& info : attack_registry())
    for (const OptionSpec& spec : info.options)
      if (std::find(names.begin(), names.end(), spec.name) == names.end())
        names.push_back(spec.name);
  std::map<std::string, CLI::Option_group*> groups;
  for (const std::string& name : names) {
    const auto decl = declarations(name);
    const OptionSpec& spec = *decl.front().second;
    const bool shared = decl.size() > 1;
    const std::string group =
        shared ? "Options of several attacks" : "Options of " + decl.front().first->name;
    const std::string help = spec.help + " (" + defaults_by_attack(decl) + ")";
    CLI::Option_group*& g = groups[group];
    if (g == nullptr) g = cmd.add_option_group(group);
    if (spec.kind == OptionKind::Flag) {
      // The help sits on the flag that changes something; the other is the default.
      const bool on_by_default = std::get<bool>(*spec.default_value);
      std::optional<bool>& slot = flags.flags[name];
      g->add_flag_callback(
          "--" + name, [&slot] { slot = true; }, on_by_default ? "(default)" : help);
      g->add_flag_callback(
          "--no-" + name, [&slot] { slot = false; }, on_by_default ? help : "(default)");
    } else {
      std::string choices;
      for (const auto& c : spec.choices) choices += (choices.empty() ? "" : ", ") + c;
      g->add_option("--" + name, flags.text[name],
                    choices.empty() ? help : help + "; one of " + choices)
          ->type_name(spec.kind == OptionKind::Integer ? "INT"
                      : spec.kind == OptionKind::Real  ? "NUMBER"
                                                       : "NAME");
    }
  }
}

OptionValues given_options(const AttackFlags& flags) {
  OptionValues given;
  for (const auto& [name, text] : flags.text) {
    if (!text) continue;
    const OptionSpec& spec = *declarations(name).front().second;
    const std::string flag = "--" + name;
    switch (spec.kind) {
      case OptionKind::Integer:
        given.set(name, parse_integer(*text, flag));
        break;
      case OptionKind::Real:
        // An option the attack computes by default: "auto" keeps it computed.
        if (!spec.default_value && *text == "auto") break;
        given.set(name, parse_number(*text, flag));
        break;
      case OptionKind::Choice:
        given.set(name, *text);
        break;
      case OptionKind::Flag:
        break;
    }
  }
  for (const auto& [name, value] : flags.flags)
    if (value) given.set(name, *value);
  return given;
}

}  // namespace advtk::cli
