#include "attacks/registry.h"

#include <algorithm>

#include "attacks/apgd.h"
#include "attacks/autoattack_presets.h"
#include "attacks/carlini_wagner.h"
#include "attacks/deepfool.h"
#include "attacks/ensemble.h"
#include "attacks/fab.h"
#include "attacks/fmn.h"
#include "attacks/iterative_attack.h"
#include "attacks/noise.h"
#include "attacks/square.h"
#include "core/error.h"

namespace advtk {
namespace {

std::vector<AttackInfo> build_registry() {
  return {fgsm_info(),
          fgm_info(),
          rfgsm_info(),
          pgd_info(),
          cw_linf_info(),
          mi_fgsm_info(),
          cw_info(),
          deepfool_info(),
          fmn_info(),
          apgd_info(false),
          apgd_info(true),
          fab_info(false),
          fab_info(true),
          square_info(),
          noise_info(),
          autoattack_info(),
          autoattack_plus_info(),
          autoattack_rand_info()};
}

std::vector<std::string> split_list(const std::string& spec) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    names.push_back(spec.substr(start, comma - start));
    ADVTK_CHECK(!names.back().empty(), "--attack ", spec, ": empty attack name in the list");
    start = comma + 1;
  }
  return names;
}

bool declares(const AttackInfo& info, const std::string& option) {
  return std::any_of(info.options.begin(), info.options.end(),
                     [&](const OptionSpec& s) { return s.name == option; });
}

}  // namespace

const std::vector<AttackInfo>& attack_registry() {
  static const std::vector<AttackInfo> registry = build_registry();
  return registry;
}

const AttackInfo& find_attack(const std::string& name) {
  std::string names;
  for (const auto& info : attack_registry()) {
    if (info.name == name) return info;
    names += (names.empty() ? "" : ", ") + info.name;
  }
  throw Error("--attack: unknown attack '" + name + "' (known: " + names + ")");
}

bool is_attack_list(const std::string& spec) { return spec.find(',') != std::string::npos; }

AttackInfo describe_attack(const std::string& spec) {
  if (!is_attack_list(spec)) return find_attack(spec);
  AttackInfo list;
  list.name = spec;
  list.norms = {Norm::Linf, Norm::L2, Norm::L1};
  list.targeted = false;
  for (const std::string& name : split_list(spec)) {
    const AttackInfo& member = find_attack(name);
    ADVTK_CHECK(!member.minimum_norm, "--attack: ", name,
                " is a minimum-norm attack and cannot join a fixed-budget ensemble");
    ADVTK_CHECK(!member.preset, "--attack: ", name, " is a preset and cannot join a list");
  }
  return list;
}

std::unique_ptr<Attack> make_attack(const AttackInfo& info, const AttackSetup& setup,
                                    const OptionValues& given) {
  ADVTK_CHECK(
      std::find(info.norms.begin(), info.norms.end(), setup.threat.norm) != info.norms.end(),
      "--norm ", norm_name(setup.threat.norm), ": ", info.name, " supports ", [&] {
        std::string s;
        for (Norm n : info.norms) s += (s.empty() ? "" : ", ") + norm_name(n);
        return s;
      }());
  const OptionValues values = resolve_options(info.name, info.options, given, false);
  std::unique_ptr<Attack> attack = info.make(setup, values);
  attack->set_declared_options(options_json(values));
  return attack;
}

std::unique_ptr<Attack> make_attack(const std::string& spec, const AttackSetup& setup,
                                    const OptionValues& given) {
  if (!is_attack_list(spec)) return make_attack(find_attack(spec), setup, given);
  describe_attack(spec);  // validates the members
  std::vector<std::unique_ptr<Attack>> attacks;
  for (const std::string& name : split_list(spec))
    attacks.push_back(make_attack(find_attack(name), setup, given));
  return std::make_unique<EnsembleAttack>(spec, std::move(attacks));
}

void check_options_apply(const std::string& spec, const OptionValues& given) {
  std::vector<const AttackInfo*> members;
  if (is_attack_list(spec)) {
    for (const std::string& name : split_list(spec)) members.push_back(&find_attack(name));
  } else {
    members.push_back(&find_attack(spec));
  }
  for (const auto& [option, value] : given.all()) {
    const bool read = std::any_of(members.begin(), members.end(),
                                  [&](const AttackInfo* m) { return declares(*m, option); });
    if (read) continue;
    std::string readers;
    for (const AttackInfo& info : attack_registry())
      if (declares(info, option)) readers += (readers.empty() ? "" : ", ") + info.name;
    if (members.size() == 1 && members.front()->preset)
      throw Error("--" + option + ": " + spec +
                  " runs its reference parameters; options do not change a preset");
    if (option == "eot")
      throw Error("--eot: " + spec + " does not average gradients; use it with " + readers);
    throw Error("--" + option + ": " + spec + " has no such option (" +
                (readers.empty() ? std::string("no attack reads it") : "read by " + readers) + ")");
  }
}

}  // namespace advtk
