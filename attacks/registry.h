// The attack registry: every attack and preset by its CLI name, each an AttackInfo defined in
// the attack's own source file (its options declared there). A new attack is one line here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attacks/attack_info.h"

namespace advtk {

const std::vector<AttackInfo>& attack_registry();

// The entry for `name`; throws advtk::Error listing the known names.
const AttackInfo& find_attack(const std::string& name);

// What --attack names: one registered attack or preset, or a list "a,b,c" — an ensemble, each
// attack on what the earlier ones left robust, each with the user's options (fixed-budget,
// untargeted, any norm its members support).
bool is_attack_list(const std::string& spec);
AttackInfo describe_attack(const std::string& spec);

// Checks the norm and every given option against the declarations (kind, range), fills the
// defaults and builds the attack. Options the attack does not declare are ignored here (see
// check_options_apply). Throws advtk::Error.
std::unique_ptr<Attack> make_attack(const AttackInfo& info, const AttackSetup& setup,
                                    const OptionValues& given);
std::unique_ptr<Attack> make_attack(const std::string& spec, const AttackSetup& setup,
                                    const OptionValues& given);

// An option the user gave that no attack of `spec` reads is an error naming the attacks that do
// (a preset reads none: it runs the reference parameters).
void check_options_apply(const std::string& spec, const OptionValues& given);

}  // namespace advtk
