// The attack registry: CLI name → factory, with the paper and the options each attack reads.
// New attacks plug in by adding an entry in registry.cpp.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attacks/attack.h"
#include "attacks/losses.h"

namespace advtk {

// Every option a registered attack may read; each attack documents which. Unset optionals take
// the attack's own (paper) default.
struct AttackConfig {
  Norm norm = Norm::Linf;
  double eps = 0.0;
  double lo = 0.0, hi = 1.0;
  std::optional<int64_t> steps;
  std::optional<double> step_size;
  int64_t restarts = 1;
  std::optional<LossKind> loss;
  std::optional<double> confidence;  // κ: margin loss (default: none) and CW (default 0)
  bool early_stop = true;
  uint64_t seed = 0;
  double l1_sparsity = 0.01;
  // Carlini-Wagner
  int64_t binary_search_steps = 9;
  std::optional<double> initial_const;  // unset: per-example first-order estimate
  double cw_learning_rate = 0.1;
  // DeepFool
  int64_t candidates = 10;
  double overshoot = 0.02;
  // APGD / FAB / Square / noise
  std::optional<int64_t> target_classes;  // apgd-t, fab-t (default 9)
  int64_t eot = 1;                        // gradient passes averaged per step (apgd, pgd family)
  bool large_reps = false;                // apgd L1: the 3ε/2ε/ε schedule (autoattack's L1)
  int64_t queries = 5000;                 // square
  double p_init = 0.8;                    // square
  bool rescale_schedule = true;           // square: stretch p's schedule to `queries`
  std::string noise = "uniform";          // noise: uniform | gaussian
  int64_t draws = 100;                    // noise
};

struct AttackInfo {
  std::string name;
  std::string description;  // one line, with the paper
  std::vector<Norm> norms;  // supported norms
  bool minimum_norm = false;
  bool targeted = true;  // whether --target is supported
  std::function<std::unique_ptr<Attack>(const AttackConfig&)> make;
};

const std::vector<AttackInfo>& attack_registry();

// The entry for `name`; throws advtk::Error listing the known names.
const AttackInfo& find_attack(const std::string& name);

// Validates `config` against the entry (norm supported, ...) and builds the attack.
std::unique_ptr<Attack> make_attack(const AttackInfo& info, const AttackConfig& config);

// Ensembles: "a,b,c" (each attack on what the earlier ones left robust) or a preset with the
// reference parameters of AutoAttack (Croce & Hein 2020):
//   autoattack       APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5,000 queries);
//                    for L1: APGD-CE (5 restarts), APGD-T (5 targets), both with the 3ε/2ε/ε
//                    schedule, and FAB-T
//   autoattack-plus  APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts), Square, APGD-T,
//   FAB-T autoattack-rand  APGD-CE and APGD-DLR with 20 EOT passes per step (randomised defenses)
bool is_ensemble(const std::string& spec);
std::unique_ptr<Attack> make_ensemble(const std::string& spec, const AttackConfig& config);

}  // namespace advtk
