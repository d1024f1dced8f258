// Robustness verification: the gradient-masking check (diagnostics/masking.h) at the main
// budget, on its own sample of clean-correct points. The points any of its attacks broke count
// as broken at the main budget and every larger one (the balls are nested).
#include <unordered_map>

#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "core/error.h"

namespace advtk {
namespace {

// The check's points [N, C, H, W] at the audit's positions (the clean examples elsewhere).
torch::Tensor points_at_positions(const AuditSetup& s, const TensorMap& saved) {
  std::unordered_map<int64_t, int64_t> position;
  const torch::Tensor ids = s.ids.to(torch::kLong).contiguous();
  for (int64_t i = 0; i < ids.numel(); ++i) position[ids.data_ptr<int64_t>()[i]] = i;
  torch::Tensor points = s.model.from_unit_range(s.data.images).clone();
  const torch::Tensor broken = saved.at("broken_index").to(torch::kLong).contiguous();
  const torch::Tensor x = saved.at("broken_x");
  for (int64_t k = 0; k < broken.numel(); ++k)
    points[position.at(broken.data_ptr<int64_t>()[k])].copy_(x[k]);
  return points;
}

class MaskingStage final : public AuditStage {
 public:
  std::string name() const override { return "masking"; }
  std::string skip_key() const override { return "masking"; }
  StageScope scope() const override { return StageScope::PointSet; }

  double work(const AuditOptions& o, int64_t, int64_t classes) const override {
    const AuditPlan& p = o.plan;
    const double targets = static_cast<double>(std::min(p.target_classes, classes - 1));
    return static_cast<double>(p.masking_points) *
               (7.0 * p.masking_pgd_steps + (12.0 + targets) * p.masking_apgd_steps) +
           static_cast<double>(p.masking_expensive_points) *
               (kForwardOnlyWork * (2.0 * p.masking_queries + p.masking_noise_draws) +
                8.0 * p.masking_pgd_steps);
  }

  StageOutput run(const AuditSetup& s, const AuditState& state,
                  StageRunner& runner) const override {
    const double main_eps = s.options.main_eps;
    runner.begin("gradient-masking check at eps " + concat(main_eps));
    std::optional<TensorMap> saved = runner.tensors(name());  // by an earlier run
    if (!saved) {
      torch::Tensor broken_ids = torch::zeros({0}, torch::kLong);
      torch::Tensor broken_x = s.model.from_unit_range(s.data.images.narrow(0, 0, 0));
      nlohmann::json j;
      if (!state.clean_correct.any().item<bool>()) {
        j = {{"skipped", true}, {"reason", "no clean-correct examples to check"}};
      } else {
        try {
          const MaskingReport r = detect_masking(
              s.model, s.data, s.masking,
              [&](const std::string& stage) { runner.report_sub("masking: " + stage); });
          j = to_json(r);
          if (r.broken_index.defined() && r.broken_index.numel() > 0) {
            broken_ids = r.broken_index;
            broken_x = r.broken_x;
          }
        } catch (const Error& e) {
          // e.g. a randomised model whose majority vote finds no clean-correct point
          j = {{"skipped", true}, {"reason", e.what()}};
        }
      }
      runner.save(name(), j, {{"broken_index", broken_ids}, {"broken_x", broken_x}});
      saved = runner.tensors(name());
    }
    StageOutput out;
    nlohmann::json masking = *runner.json(name());
    masking["eps"] = main_eps;
    if (masking.contains("seconds")) out.seconds[name()] = masking["seconds"];
    out.sections["masking"] = masking;
    // Its points carry the data's example ids; mark their positions.
    const torch::Tensor broken =
        torch::isin(s.ids, saved->at("broken_index")) & state.clean_correct;
    BreakRecord record{"masking-check", "masking-check", {}, {}};
    const torch::Tensor points = s.randomised ? points_at_positions(s, *saved) : torch::Tensor();
    for (double eps : s.options.eps) {
      record.broken.push_back(eps >= main_eps ? broken : torch::Tensor());
      if (s.randomised) record.x_adv.push_back(eps >= main_eps ? points : torch::Tensor());
    }
    out.breaks.push_back(std::move(record));
    return out;
  }

  StageOutput skipped() const override {
    StageOutput out;
    out.sections["masking"] = {{"skipped", true}, {"reason", "--skip masking"}};
    return out;
  }
};

}  // namespace

std::unique_ptr<AuditStage> masking_stage() { return std::make_unique<MaskingStage>(); }

}  // namespace advtk
