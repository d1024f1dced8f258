// A minimum-norm attack on the first examples: DeepFool in the audit's norm (L2 for an L1
// audit) and CW-L2. Each gives the distribution of the smallest perturbation that flips each
// clean-correct example (failures counted as infinitely far) and, in the audit's norm, the
// examples it broke within each budget; DeepFool also picks the most fragile examples.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "attacks/registry.h"
#include "audit/audit_stages.h"
#include "audit/image_grid.h"
#include "audit/stage_runner.h"
#include "data/image_folder.h"

namespace advtk {
namespace {

nlohmann::json null_if_infinite(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Quantiles of per-point minimal perturbations, failures counted as infinitely far.
nlohmann::json distance_distribution(const torch::Tensor& d_in, int bins) {
  const torch::Tensor d = std::get<0>(d_in.to(torch::kDouble).sort());
  const int64_t n = d.numel();
  const auto quantile = [&](double q) -> nlohmann::json {
    if (n == 0) return nullptr;
    // The lower empirical quantile, so that a failure (∞) shows as null rather than a blend.
    const int64_t i = std::min<int64_t>(n - 1, static_cast<int64_t>(std::ceil(q * n)) - 1);
    return null_if_infinite(d[std::max<int64_t>(i, 0)].item<double>());
  };
  const torch::Tensor finite = d.masked_select(torch::isfinite(d));
  nlohmann::json hist = {{"edges", nlohmann::json::array()}, {"counts", nlohmann::json::array()}};
  if (finite.numel() > 0) {
    const double hi = std::max(finite.max().item<double>(), 1e-12);
    const torch::Tensor counts = torch::histc(finite, bins, 0.0, hi);
    for (int i = 0; i <= bins; ++i) hist["edges"].push_back(hi * i / bins);
    for (int i = 0; i < bins; ++i)
      hist["counts"].push_back(static_cast<int64_t>(counts[i].item<double>()));
  }
  return {{"points", n},
          {"failed", n - finite.numel()},
          {"q1", quantile(0.25)},
          {"median", quantile(0.5)},
          {"q3", quantile(0.75)},
          {"min", n ? null_if_infinite(d[0].item<double>()) : nlohmann::json(nullptr)},
          {"mean_finite",
           finite.numel() ? nlohmann::json(finite.mean().item<double>()) : nlohmann::json(nullptr)},
          {"histogram", hist}};
}

// The most fragile examples: the smallest DeepFool perturbations, as records and a picture.
void add_fragile_examples(const AuditSetup& s, const AuditState& state, const BudgetOutcome& r,
                          const torch::Tensor& x_adv, Norm norm, StageOutput& out) {
  const Dataset& data = s.data;
  const int64_t m = r.success.size(0);
  const torch::Tensor ok = r.success & state.clean_correct.narrow(0, 0, m);
  const torch::Tensor key =
      torch::where(ok, r.distance.to(torch::kDouble), torch::full({m}, INFINITY, torch::kDouble));
  const torch::Tensor order = std::get<1>(key.sort(/*stable=*/true, 0, false));
  std::vector<GridRow> rows;
  nlohmann::json fragile = nlohmann::json::array();
  const int64_t shown = std::min<int64_t>(s.options.fragile_examples, ok.sum().item<int64_t>());
  for (int64_t k = 0; k < shown; ++k) {
    const int64_t i = order[k].item<int64_t>();
    const int64_t label = data.labels[i].item<int64_t>(), pred = r.pred[i].item<int64_t>();
    const int64_t id = s.ids[i].item<int64_t>();
    const double d = r.distance[i].item<double>();
    fragile.push_back({{"position", i},
                       {"id", id},
                       {"label", label},
                       {"prediction", pred},
                       {"distance", d},
                       {"norm", norm_name(norm)}});
    std::ostringstream dist;
    dist << norm_name(norm) << " " << std::setprecision(3) << d;
    rows.push_back({data.images[i], ((x_adv[i] - s.lo()) / (s.hi() - s.lo())).clamp(0, 1),
                    "#" + std::to_string(id) + " " + data.class_name(label), dist.str(),
                    "-> " + data.class_name(pred)});
  }
  out.sections["fragile_examples"] = fragile;
  if (!rows.empty()) out.files["fragile.png"] = encode_png(render_grid(rows));
}

class MinNormStage final : public AuditStage {
 public:
  explicit MinNormStage(std::string attack) : attack_(std::move(attack)) {}

  std::string name() const override { return "min-norm-" + attack_; }
  std::string skip_key() const override { return "min-norm"; }
  StageScope scope() const override { return StageScope::PerExample; }

  double work(const AuditOptions& o, int64_t examples, int64_t) const override {
    const AuditPlan& p = o.plan;
    if (deepfool()) {  // ~5 iterations × 10 candidates
      return 50.0 * static_cast<double>(std::min(p.deepfool_examples, examples));
    }
    // Up to the first success, most examples need one run of c (the zoo CNN: all of them).
    const int64_t cw_runs =
        p.cw_full_search ? p.cw_binary_steps : std::min<int64_t>(2, p.cw_binary_steps);
    return static_cast<double>(cw_runs * p.cw_steps) *
           static_cast<double>(std::min(p.cw_examples, examples));
  }

  StageOutput run(const AuditSetup& s, const AuditState& state,
                  StageRunner& runner) const override {
    const AuditOptions& o = s.options;
    const int64_t m =
        std::min(s.examples(), deepfool() ? o.plan.deepfool_examples : o.plan.cw_examples);
    runner.begin(attack_ + " (minimum norm) on " + std::to_string(m) + " examples");
    AttackSetup setup = s.attack_setup();
    setup.threat.norm = deepfool() ? (o.norm == Norm::L1 ? Norm::L2 : o.norm) : Norm::L2;
    OptionValues c;
    if (!deepfool()) {
      c.set("binary-steps", o.plan.cw_binary_steps)
          .set("steps", o.plan.cw_steps)
          .set("early-stop", !o.plan.cw_full_search);
    }
    const AttackInfo& info = find_attack(attack_);
    const BatchedRun run = runner.attack_in_batches(
        name(), [&](double) { return make_attack(info, setup, c); }, {0.0},
        torch::arange(m, torch::kLong), deepfool() || s.randomised, s.passes);
    const BudgetOutcome& r = run.budgets[0];
    const torch::Tensor correct = state.clean_correct.narrow(0, 0, m);
    const torch::Tensor d = torch::where(r.success, r.distance.to(torch::kDouble),
                                         torch::full({m}, INFINITY, torch::kDouble))
                                .masked_select(correct);
    nlohmann::json entry = distance_distribution(d, 20);
    entry["attack"] = attack_;
    entry["norm"] = norm_name(setup.threat.norm);
    entry["examples"] = m;
    entry["seconds"] = run.seconds;
    entry["forward_calls"] = r.forward;
    entry["backward_calls"] = r.backward;
    entry["parameters"] = run.parameters[0];
    if (setup.threat.norm == o.norm) {
      nlohmann::json at = nlohmann::json::array();
      for (double eps : o.eps) {
        const torch::Tensor within = r.success & r.distance.le(eps * (1 + 1e-6) + 1e-7);
        at.push_back({{"eps", eps}, {"robust_accuracy", fraction(correct & ~within)}});
      }
      entry["robust_accuracy_at"] = at;
    }
    StageOutput out;
    out.sections["min_norm"] = nlohmann::json::array({entry});
    out.seconds[name()] = run.seconds;
    // What it broke within each budget, measured in the audit's norm.
    const torch::Tensor dist = o.norm == Norm::Linf ? r.linf : o.norm == Norm::L2 ? r.l2 : r.l1;
    BreakRecord record{attack_, "min-norm", {}, {}};
    for (double eps : o.eps) {
      torch::Tensor within = torch::zeros({s.examples()}, torch::kBool);
      within.narrow(0, 0, m).copy_(r.success & dist.le(eps * (1 + 1e-6) + 1e-7));
      record.broken.push_back(within & state.clean_correct);
      if (s.randomised) {
        torch::Tensor points = s.model.from_unit_range(s.data.images).clone();
        points.narrow(0, 0, m).copy_(r.x_adv);
        record.x_adv.push_back(points);
      }
    }
    out.breaks.push_back(std::move(record));
    if (deepfool()) add_fragile_examples(s, state, r, r.x_adv, setup.threat.norm, out);
    return out;
  }

  StageOutput skipped() const override {
    StageOutput out;
    out.sections["min_norm"] = nlohmann::json::array();
    if (deepfool()) out.sections["fragile_examples"] = nlohmann::json::array();
    return out;
  }

 private:
  bool deepfool() const { return attack_ == "deepfool"; }
  std::string attack_;
};

}  // namespace

std::unique_ptr<AuditStage> min_norm_stage(const std::string& attack) {
  return std::make_unique<MinNormStage>(attack);
}

}  // namespace advtk
