// Convergence: how sharp the minimum the model sits in is — the top Hessian eigenvalue of the
// loss and the loss increase under random weight perturbations (diagnostics/sharpness.h).
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "core/error.h"
#include "diagnostics/sharpness.h"

namespace advtk {
namespace {

nlohmann::json sharpness_json(const SharpnessReport& r, const SharpnessOptions& so) {
  nlohmann::json pert = nlohmann::json::array();
  for (const auto& f : r.perturbation)
    pert.push_back({{"rho", f.rho},
                    {"mean_loss_increase", f.mean_increase},
                    {"std_loss_increase", f.std_increase},
                    {"max_loss_increase", f.max_increase},
                    {"pairs", so.perturbation_pairs}});
  return {{"examples", r.examples},
          {"loss", r.loss},
          {"top_hessian_eigenvalue", r.top_eigenvalue},
          {"power_iterations", r.iterations},
          {"converged", r.converged},
          {"tolerance", so.tolerance},
          {"weight_perturbation", pert},
          {"seconds", r.seconds},
          {"how_to_read",
           "The top Hessian eigenvalue is the loss curvature along the sharpest weight "
           "direction: larger means a sharper minimum. Power iteration finds the eigenvalue of "
           "largest magnitude: a negative value means the model does not sit in a minimum (a "
           "saddle or concave direction dominates). It changes with the weights' scale (Dinh et "
           "al. 2017), so compare models of one architecture and loss. The weight perturbation "
           "figure is scale-free: the mean loss increase when every parameter tensor moves by "
           "rho times its norm in a random direction; flat minima lose little."}};
}

class SharpnessStage final : public AuditStage {
 public:
  std::string name() const override { return "sharpness"; }
  std::string skip_key() const override { return "sharpness"; }
  StageScope scope() const override { return StageScope::WholeModel; }
  double work(const AuditOptions& o, int64_t, int64_t) const override {
    const AuditPlan& p = o.plan;
    return 4.0 * p.sharpness_iterations * p.sharpness_examples +
           kForwardOnlyWork * 4.0 * p.sharpness_pairs * p.sharpness_examples;
  }

  StageOutput run(const AuditSetup& s, const AuditState&, StageRunner& runner) const override {
    runner.begin("sharpness (Hessian power iteration, weight perturbations)");
    if (!runner.json(name())) {
      SharpnessOptions so;
      so.examples = s.options.plan.sharpness_examples;
      so.batch_size = s.options.batch_size;
      so.power_iterations = s.options.plan.sharpness_iterations;
      so.perturbation_pairs = s.options.plan.sharpness_pairs;
      so.seed = s.options.seed;
      runner.seed_global_generator(name());
      nlohmann::json j;
      try {
        j = sharpness_json(measure_sharpness(s.model, s.data, so), so);
      } catch (const std::exception& e) {
        // No weights (a frozen module), or double backward unsupported or out of memory.
        j = {{"skipped", true}, {"reason", short_message(e)}};
      }
      runner.save(name(), j);
    }
    StageOutput out;
    out.sections["sharpness"] = *runner.json(name());
    if (out.sections["sharpness"].contains("seconds"))
      out.seconds[name()] = out.sections["sharpness"]["seconds"];
    return out;
  }

  StageOutput skipped() const override {
    StageOutput out;
    out.sections["sharpness"] = {{"skipped", true}, {"reason", "--skip sharpness"}};
    return out;
  }
};

}  // namespace

std::unique_ptr<AuditStage> sharpness_stage() { return std::make_unique<SharpnessStage>(); }

}  // namespace advtk
