// AutoAttack's sanity checks on the model (attacks/autoattack_checks.h), and Square's: what it
// alone broke at the main budget among the standard attacks (all white-box but it).
#include "attacks/autoattack_checks.h"
#include "audit/audit_stages.h"
#include "audit/stage_runner.h"

namespace advtk {
namespace {

class SanityChecksStage final : public AuditStage {
 public:
  std::string name() const override { return "checks"; }
  StageScope scope() const override { return StageScope::WholeModel; }
  int progress_steps() const override { return 0; }
  double work(const AuditOptions&, int64_t, int64_t) const override { return 0.0; }

  StageOutput run(const AuditSetup& s, const AuditState& state,
                  StageRunner& runner) const override {
    runner.seed_global_generator(name());
    std::vector<SanityCheck> checks = autoattack_checks(s.model, s.data, s.options.batch_size);
    const auto is_square = [](const BreakRecord& b) {
      return b.attack_set == "standard" && b.source == "square";
    };
    const auto square = std::find_if(state.breaks.begin(), state.breaks.end(), is_square);
    if (square != state.breaks.end()) {
      const size_t e = s.main_index;
      torch::Tensor white_box = torch::zeros({s.examples()}, torch::kBool);
      for (const BreakRecord& b : state.breaks)
        if (b.attack_set == "standard" && !is_square(b)) white_box |= b.broken[e];
      const torch::Tensor left = state.clean_correct & ~white_box;
      checks.push_back(square_check((square->broken[e] & left).sum().item<int64_t>(),
                                    left.sum().item<int64_t>()));
    }
    StageOutput out;
    out.sections["checks"] = to_json(checks);
    return out;
  }
};

}  // namespace

std::unique_ptr<AuditStage> sanity_checks_stage() { return std::make_unique<SanityChecksStage>(); }

}  // namespace advtk
