// The worst case per example at each budget over every attack the audit ran (fixed-budget,
// minimum-norm within the budget, the masking check's and the adaptive ones), with what broke
// each example, what alone broke it, and the headline robust accuracy at the main budget.
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"

namespace advtk {
namespace {

nlohmann::json per_class(const torch::Tensor& ok, const torch::Tensor& y, int64_t classes) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t c = 0; c < classes; ++c) {
    const torch::Tensor in = y.eq(c);
    const int64_t count = in.sum().item<int64_t>();
    out.push_back(count == 0 ? nlohmann::json(nullptr)
                             : nlohmann::json((ok & in).sum().item<double>() / count));
  }
  return out;
}

class WorstCaseStage final : public AuditStage {
 public:
  std::string name() const override { return "worst-case"; }
  StageScope scope() const override { return StageScope::Summary; }
  int progress_steps() const override { return 0; }
  double work(const AuditOptions&, int64_t, int64_t) const override { return 0.0; }

  StageOutput run(const AuditSetup& s, const AuditState& state, StageRunner&) const override {
    const std::vector<double>& eps = s.options.eps;
    const int64_t n = s.examples();
    nlohmann::json worst = nlohmann::json::array();
    double main_robust = 0.0;
    std::string main_from;
    // Nested balls: a point found within a smaller budget lies within every larger one. (Each
    // attack's sweep keeps it already; on a randomised model, whose budgets are judged apart,
    // this carries a break upward.)
    torch::Tensor broken_below = torch::zeros({n}, torch::kBool);
    for (size_t e = 0; e < eps.size(); ++e) {
      torch::Tensor broken = broken_below.clone();
      nlohmann::json sets = nlohmann::json::array();
      std::vector<const BreakRecord*> by;
      for (const BreakRecord& b : state.breaks) {
        if (!b.broken[e].defined()) continue;
        by.push_back(&b);
        broken |= b.broken[e];
        if (std::find(sets.begin(), sets.end(), b.attack_set) == sets.end())
          sets.push_back(b.attack_set);
      }
      nlohmann::json broken_by = nlohmann::json::object(), only_by = nlohmann::json::object();
      for (const BreakRecord* b : by) {
        torch::Tensor others = torch::zeros({n}, torch::kBool);
        for (const BreakRecord* other : by)
          if (other != b) others |= other->broken[e];
        broken_by[b->source] = b->broken[e].sum().item<int64_t>();
        only_by[b->source] = (b->broken[e] & ~others).sum().item<int64_t>();
      }
      broken_below = broken;
      const torch::Tensor robust = state.clean_correct & ~broken;
      const double acc = fraction(robust);
      if (e == s.main_index) {
        main_robust = acc;
        for (const auto& set : sets)
          main_from += (main_from.empty() ? "" : " + ") + set.get<std::string>();
      }
      worst.push_back({{"eps", eps[e]},
                       {"robust_accuracy", acc},
                       {"robust_examples", robust.sum().item<int64_t>()},
                       {"attack_sets", sets},
                       {"per_class_robust_accuracy", per_class(robust, s.data.labels, s.classes)},
                       {"broken_by", broken_by},
                       {"only_broken_by", only_by}});
    }
    StageOutput out;
    out.sections["worst_case"] = worst;
    out.sections["main_eps"] = s.options.main_eps;
    out.sections["main_robust_accuracy"] = main_robust;
    out.sections["main_robust_accuracy_from"] = main_from;
    return out;
  }
};

}  // namespace

std::unique_ptr<AuditStage> worst_case_stage() { return std::make_unique<WorstCaseStage>(); }

}  // namespace advtk
