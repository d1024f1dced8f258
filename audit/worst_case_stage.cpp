// The worst case per example at each budget over every attack the audit ran (fixed-budget,
// minimum-norm within the budget, the masking check's and the adaptive ones), with what broke
// each example, what alone broke it, and the headline robust accuracy at the main budget. On a
// randomised model broken_by counts each attack's own verdicts, the figures only the breaks a
// fresh vote confirmed.
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "eval/batched.h"

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

// On a randomised model each attack's break is its own majority vote, and over several attacks an
// example whose points sit near a coin flip would count as broken by whichever vote came out
// wrong: the union of noisy verdicts is biased low. So per example the point with the most wrong
// votes in a fresh vote is picked (selection), and the example counts as broken only if a
// second, independent vote on that point says so (confirmation). `unsure`: the examples some
// attack claimed at this budget and no smaller budget's confirmation covers.
torch::Tensor confirmed(const AuditSetup& s, const StageRunner& runner,
                        const std::vector<const BreakRecord*>& by, size_t e,
                        const torch::Tensor& unsure) {
  const torch::Tensor rows = unsure.nonzero().squeeze(1);
  const torch::Tensor y = s.data.labels.index_select(0, rows);
  const int64_t b = s.options.batch_size;
  torch::Tensor best = torch::full({rows.numel()}, -1, torch::kLong);
  torch::Tensor point = s.model.from_unit_range(s.data.images.index_select(0, rows)).clone();
  torch::Tensor out = torch::zeros({s.examples()}, torch::kBool);
  runner.seed_global_generator("worst-case/select-" + std::to_string(e));
  for (const BreakRecord* r : by) {
    // A record without its points (none should lack them) keeps its claims unconfirmed.
    if (r->x_adv.size() <= e || !r->x_adv[e].defined()) {
      out |= r->broken[e] & unsure;
      continue;
    }
    const torch::Tensor mine = r->broken[e].index_select(0, rows).nonzero().squeeze(1);
    const torch::Tensor x = r->x_adv[e].index_select(0, rows.index_select(0, mine));
    const torch::Tensor votes = wrong_votes(s.model, x, y.index_select(0, mine), s.passes, b);
    const torch::Tensor better = votes > best.index_select(0, mine);
    const torch::Tensor at = mine.masked_select(better);
    best.index_put_({at}, votes.masked_select(better));
    point.index_put_({at}, x.index({better}));
  }
  runner.seed_global_generator("worst-case/confirm-" + std::to_string(e));
  out.index_put_(
      {rows}, out.index_select(0, rows) | majority_misclassified(s.model, point, y, s.passes, b));
  return out;
}

class WorstCaseStage final : public AuditStage {
 public:
  std::string name() const override { return "worst-case"; }
  StageScope scope() const override { return StageScope::Summary; }
  int progress_steps() const override { return 0; }
  double work(const AuditOptions&, int64_t, int64_t) const override { return 0.0; }

  StageOutput run(const AuditSetup& s, const AuditState& state,
                  StageRunner& runner) const override {
    const std::vector<double>& eps = s.options.eps;
    const int64_t n = s.examples();
    nlohmann::json worst = nlohmann::json::array();
    double main_robust = 0.0;
    std::string main_from;
    // Nested balls: a point found within a smaller budget lies within every larger one. (Each
    // attack's sweep keeps it already; on a randomised model, whose budgets are judged apart,
    // this carries a confirmed break upward.)
    torch::Tensor broken_below = torch::zeros({n}, torch::kBool);
    for (size_t e = 0; e < eps.size(); ++e) {
      torch::Tensor broken = broken_below.clone();
      torch::Tensor claimed = broken_below.clone();
      nlohmann::json sets = nlohmann::json::array();
      std::vector<const BreakRecord*> by;
      for (const BreakRecord& b : state.breaks) {
        if (!b.broken[e].defined()) continue;
        by.push_back(&b);
        claimed |= b.broken[e];
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
      nlohmann::json vote = nullptr;
      if (s.randomised) {
        const torch::Tensor unsure = claimed & ~broken_below;
        broken |= confirmed(s, runner, by, e, unsure);
        vote = {{"passes", s.passes},
                {"claimed", unsure.sum().item<int64_t>()},
                {"confirmed", (broken & ~broken_below).sum().item<int64_t>()}};
      } else {
        broken = claimed;
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
                       {"only_broken_by", only_by},
                       {"confirmation_vote", vote}});
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
