#include "defenses/robust_validation.h"

#include <cstdio>

#include "attacks/attack_runner.h"
#include "attacks/iterative_attack.h"
#include "core/percent.h"

namespace advtk {
namespace {

double accuracy_under(const Model& model, const Dataset& data, const AttackFactory& factory,
                      const RobustValidationOptions& o) {
  AttackRunOptions run;
  run.batch_size = o.batch_size;
  run.seed = o.seed;
  const AttackRun r = run_attack(model, data, factory, {o.threat.eps}, run).front();
  return 1.0 - r.success.to(torch::kDouble).mean().item<double>();
}

}  // namespace

RobustAccuracy robust_accuracy(const Model& model, const Dataset& data,
                               const RobustValidationOptions& o) {
  RobustAccuracy out;
  out.pgd = accuracy_under(
      model, data,
      [&](double eps) {
        IterativeAttackOptions a;
        a.threat = o.threat;
        a.threat.eps = eps;
        a.steps = o.pgd_steps;
        a.seed = o.seed;
        return make_pgd(a);
      },
      o);
  out.fgsm = accuracy_under(
      model, data,
      [&](double eps) {
        ThreatModel t = o.threat;
        t.eps = eps;
        return make_fgsm(t);
      },
      o);
  return out;
}

std::string catastrophic_overfitting(const std::vector<EpochRecord>& history,
                                     const EpochRecord& now, double collapse) {
  const auto pgd = [](const EpochRecord& r) { return r.metric(kPgdAccuracyMetric); };
  const auto fgsm = [](const EpochRecord& r) { return r.metric(kFgsmAccuracyMetric); };
  if (!pgd(now) || !fgsm(now)) return "";
  const EpochRecord* best = nullptr;
  for (const auto& r : history) {
    if (!r.stop_reason.empty() || !pgd(r) || !fgsm(r)) continue;
    if (best == nullptr || *pgd(r) > *pgd(*best)) best = &r;
  }
  if (best == nullptr) return "";
  if (*pgd(*best) - *pgd(now) <= collapse) return "";
  if (*fgsm(now) < *fgsm(*best)) return "";
  return "catastrophic overfitting: PGD accuracy fell from " + percent(*pgd(*best)) + " (epoch " +
         std::to_string(best->epoch) + ") to " + percent(*pgd(now)) +
         " while FGSM accuracy went from " + percent(*fgsm(*best)) + " to " + percent(*fgsm(now)) +
         " (Wong et al. 2020)";
}

EpochCheck make_robust_epoch_check(std::shared_ptr<const Dataset> validation,
                                   RobustValidationOptions options) {
  return [validation, options](const Model& model, const std::vector<EpochRecord>& history,
                               EpochRecord& record) {
    const RobustAccuracy acc = robust_accuracy(model, *validation, options);
    record.metrics[kPgdAccuracyMetric] = acc.pgd;
    record.metrics[kFgsmAccuracyMetric] = acc.fgsm;
    if (options.detect_catastrophic_overfitting)
      record.stop_reason = catastrophic_overfitting(history, record, options.collapse);
  };
}

}  // namespace advtk
