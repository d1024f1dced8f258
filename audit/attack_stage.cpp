// One fixed-budget attack (FGSM/FGM, PGD, APGD-CE, APGD-T or APGD-DLR, Square) at every budget
// of the audit, on every example, with the plan's steps, restarts and queries; on a randomised
// model the gradient attacks average EOT passes and success is a majority vote.
#include <algorithm>

#include "attacks/registry.h"
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "core/error.h"

namespace advtk {
namespace {

// Figures for one attack at one budget, over all audit examples.
nlohmann::json attack_entry(const std::string& name, double eps, const BudgetOutcome& r,
                            const torch::Tensor& clean_correct, const nlohmann::json& seconds,
                            const nlohmann::json& parameters, Norm norm) {
  const torch::Tensor broken = r.success & clean_correct;
  const int64_t attacked = clean_correct.sum().item<int64_t>();
  const auto median = [&](const torch::Tensor& d) {
    const torch::Tensor v = d.masked_select(broken);
    return v.numel() == 0 ? nlohmann::json(nullptr)
                          : nlohmann::json(v.to(torch::kDouble).median().item<double>());
  };
  return {{"attack", name},
          {"norm", norm_name(norm)},
          {"eps", eps},
          {"robust_accuracy", fraction(clean_correct & ~r.success)},
          {"success_rate", attacked == 0 ? nlohmann::json(nullptr)
                                         : nlohmann::json(broken.sum().item<double>() / attacked)},
          {"median_l2", median(r.l2)},
          {"median_linf", median(r.linf)},
          {"forward_calls", r.forward},
          {"backward_calls", r.backward},
          {"seconds", seconds},
          {"parameters", parameters}};
}

class AttackStage final : public AuditStage {
 public:
  explicit AttackStage(std::string attack) : attack_(std::move(attack)) {}

  std::string name() const override { return "attack-" + attack_; }
  StageScope scope() const override { return StageScope::PerExample; }

  double work(const AuditOptions& o, int64_t examples, int64_t classes) const override {
    const AuditPlan& p = o.plan;
    double per_example = 1.0;  // FGSM
    if (attack_ == "pgd") {
      per_example = static_cast<double>(p.pgd_steps * p.pgd_restarts);
    } else if (attack_ == "apgd" || attack_ == "apgd-dlr") {
      per_example = static_cast<double>(p.apgd_steps * apgd_restarts(o));
    } else if (attack_ == "apgd-t") {
      per_example =
          static_cast<double>(target_classes(o, classes) * p.apgd_steps * p.apgd_restarts);
    } else if (attack_ == "square") {
      per_example = kForwardOnlyWork * static_cast<double>(p.square_queries);
    }
    return static_cast<double>(std::max<size_t>(o.eps.size(), 1)) * per_example *
           static_cast<double>(examples);
  }

  StageOutput run(const AuditSetup& s, const AuditState& state,
                  StageRunner& runner) const override {
    const AuditOptions& o = s.options;
    std::string budgets;
    for (double e : o.eps) budgets += (budgets.empty() ? "" : ",") + concat(e);
    runner.begin(attack_ + " at eps " + budgets);
    OptionValues c;
    if (attack_ == "pgd") {
      c.set("steps", o.plan.pgd_steps).set("restarts", o.plan.pgd_restarts);
    } else if (attack_ == "apgd" || attack_ == "apgd-t" || attack_ == "apgd-dlr") {
      if (attack_ == "apgd-t") c.set("target-classes", target_classes(o, s.classes));
      if (attack_ == "apgd-dlr") c.set("loss", std::string("dlr"));
      // AutoAttack's L1 version: the 3ε/2ε/ε schedule.
      if (o.norm == Norm::L1) c.set("l1-schedule", true);
      c.set("steps", o.plan.apgd_steps).set("restarts", apgd_restarts(o));
    } else if (attack_ == "square") {
      c.set("queries", o.plan.square_queries);
    }
    if (attack_ != "square") c.set("eot", s.eot);
    const AttackInfo& info = find_attack(attack_ == "apgd-dlr" ? "apgd" : attack_);
    AttackSetup setup = s.attack_setup();
    const BatchedRun run = runner.attack_in_batches(
        name(),
        [&](double eps) {
          setup.threat.eps = eps;
          return make_attack(info, setup, c);
        },
        o.eps, torch::arange(s.examples(), torch::kLong), s.randomised, s.passes);

    StageOutput out;
    out.sections["attacks"] = nlohmann::json::array();
    BreakRecord record{attack_, "standard", {}, {}};
    for (size_t e = 0; e < o.eps.size(); ++e) {
      // Seconds are for the whole sweep over the budgets: on the last budget's entry, null on
      // the others.
      out.sections["attacks"].push_back(
          attack_entry(attack_, o.eps[e], run.budgets[e], state.clean_correct,
                       e + 1 == o.eps.size() ? nlohmann::json(run.seconds) : nullptr,
                       run.parameters[e], o.norm));
      record.broken.push_back(run.budgets[e].success & state.clean_correct);
      if (s.randomised) record.x_adv.push_back(run.budgets[e].x_adv);
    }
    out.seconds[name()] = run.seconds;
    out.breaks.push_back(std::move(record));
    return out;
  }

 private:
  // APGD-CE runs AutoAttack's 5 restarts at L1.
  int64_t apgd_restarts(const AuditOptions& o) const {
    return attack_ == "apgd" && o.norm == Norm::L1 ? std::max<int64_t>(o.plan.apgd_restarts, 5)
                                                   : o.plan.apgd_restarts;
  }
  static int64_t target_classes(const AuditOptions& o, int64_t classes) {
    return std::min(o.plan.target_classes, classes - 1);
  }

  std::string attack_;
};

}  // namespace

std::unique_ptr<AuditStage> attack_stage(const std::string& attack) {
  return std::make_unique<AttackStage>(attack);
}

}  // namespace advtk
