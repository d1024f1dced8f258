// What the registry knows of an attack: its name and paper, the norms it supports, its
// capabilities as named fields, its options (declared once, as data) and its factory. Each
// attack's source file defines its AttackInfo; registry.cpp lists them, one line each.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "attacks/attack_options.h"
#include "attacks/losses.h"

namespace advtk {

// What every attack gets beside its options: the threat model (norm, budget, input range) and
// the seed of its random choices.
struct AttackSetup {
  ThreatModel threat;
  uint64_t seed = 0;
};

struct AttackInfo {
  std::string name;
  std::string description;    // one line, with the paper
  std::vector<Norm> norms;    // supported; the first is the default
  bool minimum_norm = false;  // no budget: reports the smallest perturbation it finds
  bool targeted = true;       // --target is supported
  bool supports_eot = false;  // averages loss gradients over passes (declares "eot")
  bool preset = false;        // an ensemble with the reference parameters: options do not apply
  std::vector<OptionSpec> options;
  std::function<std::unique_ptr<Attack>(const AttackSetup&, const OptionValues&)> make;
};

// Declarations several attacks share: one flag, each attack with its own default.
OptionSpec steps_option(int64_t default_steps);
OptionSpec restarts_option();
OptionSpec loss_option(const std::string& default_loss, std::vector<std::string> choices);
OptionSpec confidence_option(std::optional<double> default_confidence);
OptionSpec eot_option();
OptionSpec early_stop_option();
OptionSpec target_classes_option();

// The loss of a resolved "loss" (and "confidence", +inf when unset) option.
LossSpec loss_of(const OptionValues& values);

}  // namespace advtk
