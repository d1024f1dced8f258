#include "attacks/registry.h"

#include <algorithm>
#include <limits>

#include "attacks/carlini_wagner.h"
#include "attacks/deepfool.h"
#include "attacks/iterative_attack.h"
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
  o.name = name;
  return make_pgd(o);
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
                 auto a = make_fgsm(threat_of(c), loss_of(c, LossKind::CrossEntropy));
                 return a;
               }});
  r.push_back({"fgm",
               "one normalised-gradient step of size eps, FGSM for L2/L1",
               {Norm::L2, Norm::L1},
               false,
               true,
               [](const AttackConfig& c) {
                 return make_fgsm(threat_of(c), loss_of(c, LossKind::CrossEntropy));
               }});
  r.push_back({"rfgsm",
               "random-sign step of eps/2, then a gradient step of eps/2 (Tramer et al. 2018)",
               {Norm::Linf, Norm::L2},
               false,
               true,
               [](const AttackConfig& c) {
                 return make_rfgsm(threat_of(c), c.seed, loss_of(c, LossKind::CrossEntropy));
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
               "Carlini-Wagner L2: tanh space, Adam, binary search over c (Carlini & Wagner 2017)",
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
                 o.abort_early = c.early_stop;
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
  return info.make(config);
}

}  // namespace advtk
