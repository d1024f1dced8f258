#include "attacks/registry.h"

#include <algorithm>
#include <limits>

#include "attacks/apgd.h"
#include "attacks/carlini_wagner.h"
#include "attacks/deepfool.h"
#include "attacks/ensemble.h"
#include "attacks/fab.h"
#include "attacks/iterative_attack.h"
#include "attacks/noise.h"
#include "attacks/square.h"
#include "core/error.h"

namespace advtk {
namespace {

ThreatModel threat_of(const AttackConfig& c) { return {c.norm, c.eps, c.lo, c.hi}; }

LossSpec loss_of(const AttackConfig& c, LossKind fallback) {
  LossSpec spec;
  spec.kind = c.loss.value_or(fallback);
  spec.confidence = c.confidence.value_or(std::numeric_limits<double>::infinity());
  return spec;
}

std::unique_ptr<Attack> make_iterative(const AttackConfig& c, const std::string& name,
                                       LossKind fallback_loss, int64_t default_steps) {
  IterativeAttackOptions o;
  o.threat = threat_of(c);
  o.steps = c.steps.value_or(default_steps);
  o.step_size = c.step_size.value_or(-1);
  o.restarts = c.restarts;
  o.loss = loss_of(c, fallback_loss);
  o.early_stop = c.early_stop;
  o.seed = c.seed;
  o.l1_sparsity = c.l1_sparsity;
  o.eot = c.eot;
  o.name = name;
  return make_pgd(o);
}

std::unique_ptr<Attack> make_apgd(const AttackConfig& c, bool targeted) {
  ApgdOptions o;
  o.threat = threat_of(c);
  o.steps = c.steps.value_or(o.steps);
  o.restarts = c.restarts;
  o.loss = c.loss.value_or(LossKind::CrossEntropy);
  o.targeted = targeted;
  o.target_classes = c.target_classes.value_or(o.target_classes);
  o.eot = c.eot;
  o.large_reps = c.large_reps;
  o.seed = c.seed;
  return std::make_unique<Apgd>(o);
}

std::unique_ptr<Attack> make_fab(const AttackConfig& c, bool targeted) {
  FabOptions o;
  o.threat = threat_of(c);
  o.steps = c.steps.value_or(o.steps);
  o.restarts = c.restarts;
  o.targeted = targeted;
  o.target_classes = c.target_classes.value_or(o.target_classes);
  o.seed = c.seed;
  return std::make_unique<Fab>(o);
}

std::unique_ptr<Attack> make_square(const AttackConfig& c) {
  SquareOptions o;
  o.threat = threat_of(c);
  o.queries = c.queries;
  o.p_init = c.p_init;
  o.rescale_schedule = c.rescale_schedule;
  o.restarts = c.restarts;
  o.seed = c.seed;
  return std::make_unique<SquareAttack>(o);
}

std::vector<AttackInfo> build_registry() {
  const std::vector<Norm> all = {Norm::Linf, Norm::L2, Norm::L1};
  std::vector<AttackInfo> r;
  r.push_back({"fgsm",
               "one gradient-sign step of size eps (Goodfellow et al. 2015)",
               {Norm::Linf},
               false,
               true,
               [](const AttackConfig& c) {
                 return make_fgsm(threat_of(c), loss_of(c, LossKind::CrossEntropy), c.eot);
               }});
  r.push_back({"fgm",
               "one normalised-gradient step of size eps, FGSM for L2/L1",
               {Norm::L2, Norm::L1},
               false,
               true,
               [](const AttackConfig& c) {
                 return make_fgsm(threat_of(c), loss_of(c, LossKind::CrossEntropy), c.eot);
               }});
  r.push_back({"rfgsm",
               "random-sign step of eps/2, then a gradient step of eps/2 (Tramer et al. 2018)",
               {Norm::Linf, Norm::L2},
               false,
               true,
               [](const AttackConfig& c) {
                 return make_rfgsm(threat_of(c), c.seed, loss_of(c, LossKind::CrossEntropy), c.eot);
               }});
  r.push_back(
      {"pgd",
       "projected gradient descent, random start, 40 steps of 2.5*eps/steps (Madry et al. 2018)",
       all, false, true,
       [](const AttackConfig& c) { return make_iterative(c, "pgd", LossKind::CrossEntropy, 40); }});
  r.push_back({"cw-linf", "PGD with the Carlini-Wagner margin loss (Carlini & Wagner 2017)", all,
               false, true, [](const AttackConfig& c) {
                 return make_iterative(c, "cw-linf", LossKind::Margin, 40);
               }});
  r.push_back({"cw",
               "Carlini-Wagner L2: tanh space, Adam, binary search over c from a first-order "
               "estimate (Carlini & Wagner 2017)",
               {Norm::L2},
               true,
               true,
               [](const AttackConfig& c) {
                 CarliniWagnerOptions o;
                 o.binary_search_steps = c.binary_search_steps;
                 o.steps = c.steps.value_or(o.steps);
                 o.learning_rate = c.cw_learning_rate;
                 o.initial_const = c.initial_const;
                 o.confidence = c.confidence.value_or(0.0);
                 o.stop_at_first_success = c.early_stop;
                 o.lo = c.lo;
                 o.hi = c.hi;
                 return std::unique_ptr<Attack>(std::make_unique<CarliniWagnerL2>(o));
               }});
  r.push_back(
      {"deepfool",
       "minimal perturbation to the nearest linearised boundary (Moosavi-Dezfooli et al. 2016)",
       {Norm::L2, Norm::Linf},
       true,
       false,
       [](const AttackConfig& c) {  // L2 first: the default
         DeepFoolOptions o;
         o.norm = c.norm;
         o.candidates = c.candidates;
         o.overshoot = c.overshoot;
         o.max_iterations = c.steps.value_or(o.max_iterations);
         o.lo = c.lo;
         o.hi = c.hi;
         return std::unique_ptr<Attack>(std::make_unique<DeepFool>(o));
       }});
  r.push_back({"apgd",
               "Auto-PGD, step-size free, 100 iterations, CE or DLR loss (Croce & Hein 2020)", all,
               false, true, [](const AttackConfig& c) { return make_apgd(c, false); }});
  r.push_back({"apgd-t",
               "APGD on the targeted DLR loss towards the 9 most likely other classes (Croce & "
               "Hein 2020)",
               all, false, true, [](const AttackConfig& c) { return make_apgd(c, true); }});
  r.push_back({"fab",
               "fast adaptive boundary attack, minimal perturbations within eps (Croce & Hein "
               "2020)",
               all, false, true, [](const AttackConfig& c) { return make_fab(c, false); }});
  r.push_back({"fab-t", "FAB towards the 9 most likely other classes (Croce & Hein 2020)", all,
               false, true, [](const AttackConfig& c) { return make_fab(c, true); }});
  r.push_back({"square",
               "score-based random search, no gradients, 5,000 queries (Andriushchenko et al. "
               "2020)",
               all, false, true, make_square});
  r.push_back({"noise", "random perturbations at the budget, uniform or Gaussian (baseline)", all,
               false, true, [](const AttackConfig& c) {
                 NoiseOptions o;
                 o.threat = threat_of(c);
                 ADVTK_CHECK(c.noise == "uniform" || c.noise == "gaussian",
                             "--noise: expected uniform or gaussian, got '", c.noise, "'");
                 o.kind = c.noise == "uniform" ? NoiseKind::Uniform : NoiseKind::Gaussian;
                 o.draws = c.draws;
                 o.seed = c.seed;
                 return std::unique_ptr<Attack>(std::make_unique<NoiseAttack>(o));
               }});
  return r;
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

std::unique_ptr<Attack> make_attack(const AttackInfo& info, const AttackConfig& config) {
  ADVTK_CHECK(std::find(info.norms.begin(), info.norms.end(), config.norm) != info.norms.end(),
              "--norm ", norm_name(config.norm), ": ", info.name, " supports ", [&] {
                std::string s;
                for (Norm n : info.norms) s += (s.empty() ? "" : ", ") + norm_name(n);
                return s;
              }());
  // EOT averages loss gradients inside the loss-based loops; elsewhere it would be ignored.
  static const std::vector<std::string> with_eot = {"fgsm",    "fgm",  "rfgsm", "pgd",
                                                    "cw-linf", "apgd", "apgd-t"};
  ADVTK_CHECK(
      config.eot == 1 || std::find(with_eot.begin(), with_eot.end(), info.name) != with_eot.end(),
      "--eot: ", info.name,
      " does not average gradients; use it with fgsm, fgm, rfgsm, pgd, cw-linf, apgd or "
      "apgd-t");
  return info.make(config);
}

bool is_ensemble(const std::string& spec) {
  return spec.find(',') != std::string::npos || spec.rfind("autoattack", 0) == 0;
}

std::unique_ptr<Attack> make_ensemble(const std::string& spec, const AttackConfig& config) {
  std::vector<std::unique_ptr<Attack>> attacks;
  // The reference parameters: the user's --steps, --restarts etc. do not change a preset.
  AttackConfig base;
  base.norm = config.norm;
  base.eps = config.eps;
  base.lo = config.lo;
  base.hi = config.hi;
  base.seed = config.seed;
  const auto add = [&](const std::string& name, const std::function<void(AttackConfig&)>& set) {
    AttackConfig c = base;
    set(c);
    attacks.push_back(make_attack(find_attack(name), c));
  };
  const auto keep = [](AttackConfig&) {};
  // AutoAttack builds its Square with resc_schedule=False: p halves at the raw query counts
  // (10, 50, 200, …, 4000 within 5,000 queries), not at the 10,000-query schedule stretched.
  const auto as_in_autoattack = [](AttackConfig& c) { c.rescale_schedule = false; };
  const auto dlr = [](AttackConfig& c) { c.loss = LossKind::Dlr; };
  const auto restarts = [](int64_t k) { return [k](AttackConfig& c) { c.restarts = k; }; };
  if (spec == "autoattack") {
    if (config.norm == Norm::L1) {
      add("apgd", [](AttackConfig& c) {
        c.restarts = 5;
        c.large_reps = true;
      });
      add("apgd-t", [](AttackConfig& c) {
        c.target_classes = 5;
        c.large_reps = true;
      });
    } else {
      add("apgd", keep);
      add("apgd-t", keep);
    }
    add("fab-t", keep);
    add("square", as_in_autoattack);
  } else if (spec == "autoattack-plus") {
    add("apgd", restarts(5));
    add("apgd", [](AttackConfig& c) {
      c.loss = LossKind::Dlr;
      c.restarts = 5;
    });
    add("fab", restarts(5));
    add("square", as_in_autoattack);
    add("apgd-t", keep);
    add("fab-t", keep);
  } else if (spec == "autoattack-rand") {
    const auto eot = [](AttackConfig& c) { c.eot = 20; };
    add("apgd", eot);
    add("apgd", [&](AttackConfig& c) {
      eot(c);
      dlr(c);
    });
  } else {
    ADVTK_CHECK(spec.rfind("autoattack", 0) != 0, "--attack: unknown preset '", spec,
                "' (known: autoattack, autoattack-plus, autoattack-rand)");
    // A user's list: each attack with the user's options.
    size_t start = 0;
    while (start <= spec.size()) {
      const size_t comma = std::min(spec.find(',', start), spec.size());
      const std::string name = spec.substr(start, comma - start);
      ADVTK_CHECK(!name.empty(), "--attack ", spec, ": empty attack name in the list");
      const AttackInfo& info = find_attack(name);
      ADVTK_CHECK(!info.minimum_norm, "--attack: ", name,
                  " is a minimum-norm attack and cannot join a fixed-budget ensemble");
      attacks.push_back(make_attack(info, config));
      start = comma + 1;
    }
  }
  return std::make_unique<EnsembleAttack>(spec, std::move(attacks));
}

}  // namespace advtk
