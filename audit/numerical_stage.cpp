// Numerical exploitation: the model under extreme and degenerate inputs and the size of its
// input gradients (diagnostics/numerical_probe.h).
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "diagnostics/numerical_probe.h"

namespace advtk {
namespace {

class NumericalStage final : public AuditStage {
 public:
  std::string name() const override { return "numerical"; }
  StageScope scope() const override { return StageScope::WholeModel; }
  double work(const AuditOptions& o, int64_t, int64_t) const override {
    return 3.0 * static_cast<double>(o.plan.numerical_examples);
  }

  StageOutput run(const AuditSetup& s, const AuditState&, StageRunner& runner) const override {
    runner.begin("numerical probes");
    if (!runner.json(name())) {
      NumericalOptions no;
      no.examples = s.options.plan.numerical_examples;
      no.batch_size = s.options.batch_size;
      no.seed = s.options.seed;
      runner.seed_global_generator(name());
      runner.save(name(), to_json(probe_numerics(s.model, s.data, no)));
    }
    StageOutput out;
    out.sections["numerical"] = *runner.json(name());
    out.seconds[name()] = out.sections["numerical"]["seconds"];
    return out;
  }
};

}  // namespace

std::unique_ptr<AuditStage> numerical_stage() { return std::make_unique<NumericalStage>(); }

}  // namespace advtk
