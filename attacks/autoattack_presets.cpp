#include "attacks/autoattack_presets.h"

#include <utility>

#include "attacks/ensemble.h"
#include "attacks/registry.h"

namespace advtk {
namespace {

// A member of a preset: the attack with the reference parameters that differ from its defaults.
using Member = std::pair<std::string, OptionValues>;

AttackInfo preset(const std::string& name, const std::string& description,
                  std::function<std::vector<Member>(Norm)> members) {
  AttackInfo info;
  info.name = name;
  info.description = description;
  info.norms = {Norm::Linf, Norm::L2, Norm::L1};
  info.targeted = false;
  info.preset = true;
  info.make = [name, members](const AttackSetup& setup, const OptionValues&) {
    std::vector<std::unique_ptr<Attack>> attacks;
    for (const auto& [attack, values] : members(setup.threat.norm))
      attacks.push_back(make_attack(find_attack(attack), setup, values));
    return std::unique_ptr<Attack>(std::make_unique<EnsembleAttack>(name, std::move(attacks)));
  };
  return info;
}

OptionValues none() { return {}; }
OptionValues square_as_in_autoattack() { return OptionValues().set("rescale-schedule", false); }

}  // namespace

AttackInfo autoattack_info() {
  return preset(
      "autoattack", "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square (Croce & Hein 2020)",
      [](Norm norm) -> std::vector<Member> {
        if (norm == Norm::L1)
          return {
              {"apgd", OptionValues().set("restarts", int64_t{5}).set("l1-schedule", true)},
              {"apgd-t", OptionValues().set("target-classes", int64_t{5}).set("l1-schedule", true)},
              {"fab-t", none()},
              {"square", square_as_in_autoattack()}};
        return {{"apgd", none()},
                {"apgd-t", none()},
                {"fab-t", none()},
                {"square", square_as_in_autoattack()}};
      });
}

AttackInfo autoattack_plus_info() {
  return preset(
      "autoattack-plus",
      "AutoAttack plus: APGD-CE, APGD-DLR, FAB (5 restarts each), Square, APGD-T, FAB-T",
      [](Norm) -> std::vector<Member> {
        return {
            {"apgd", OptionValues().set("restarts", int64_t{5})},
            {"apgd", OptionValues().set("loss", std::string("dlr")).set("restarts", int64_t{5})},
            {"fab", OptionValues().set("restarts", int64_t{5})},
            {"square", square_as_in_autoattack()},
            {"apgd-t", none()},
            {"fab-t", none()}};
      });
}

AttackInfo autoattack_rand_info() {
  return preset(
      "autoattack-rand",
      "AutoAttack for randomised defenses: APGD-CE and APGD-DLR, 20 EOT passes per step",
      [](Norm) -> std::vector<Member> {
        return {{"apgd", OptionValues().set("eot", int64_t{20})},
                {"apgd", OptionValues().set("eot", int64_t{20}).set("loss", std::string("dlr"))}};
      });
}

}  // namespace advtk
