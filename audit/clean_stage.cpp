// Clean accuracy: per-class accuracy, the confusion matrix, and which examples the model gets
// right (by a majority of passes on a randomised model) — the examples every attack stage then
// attacks.
#include <chrono>
#include <cmath>

#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "eval/evaluation.h"

namespace advtk {
namespace {

class CleanStage final : public AuditStage {
 public:
  std::string name() const override { return "clean"; }
  StageScope scope() const override { return StageScope::PerExample; }
  double work(const AuditOptions&, int64_t examples, int64_t) const override {
    return kForwardOnlyWork * static_cast<double>(examples);
  }

  StageOutput run(const AuditSetup& s, const AuditState&, StageRunner& runner) const override {
    runner.begin("clean accuracy");
    std::optional<TensorMap> t = runner.tensors(name());  // saved by an earlier run
    if (!t) {
      const auto start = std::chrono::steady_clock::now();
      runner.seed_global_generator(name());
      const EvaluationResult e = evaluate(
          s.model, s.data, s.options.batch_size, s.classes,
          [&](int64_t done, int64_t total) { runner.report(done, total); }, s.passes);
      nlohmann::json per = nlohmann::json::array();
      for (double v : e.per_class_accuracy)
        per.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
      runner.save(
          name(),
          {{"accuracy", e.accuracy},
           {"majority_accuracy", e.majority_accuracy},
           {"passes", e.passes},
           {"mean_loss", e.mean_loss},
           {"per_class_accuracy", per},
           {"seconds",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}},
          {{"predictions", e.predictions},
           {"majority_correct", e.majority_correct},
           {"confusion", e.confusion}});
      t = runner.tensors(name());  // continue from what was saved, as a resumed run will
    }
    const nlohmann::json clean = *runner.json(name());
    nlohmann::json confusion = nlohmann::json::array();
    const torch::Tensor cm = t->at("confusion");
    for (int64_t r = 0; r < cm.size(0); ++r) {
      std::vector<int64_t> row(cm.size(1));
      for (int64_t c = 0; c < cm.size(1); ++c) row[c] = cm[r][c].item<int64_t>();
      confusion.push_back(row);
    }
    StageOutput out;
    out.sections["clean_accuracy"] = clean["accuracy"];
    out.sections["clean"] = {{"per_class_accuracy", clean["per_class_accuracy"]},
                             {"mean_loss", clean["mean_loss"]},
                             {"confusion", confusion}};
    out.seconds[name()] = clean["seconds"];
    out.clean_correct = t->at("majority_correct").to(torch::kBool);
    return out;
  }
};

}  // namespace

std::unique_ptr<AuditStage> clean_stage() { return std::make_unique<CleanStage>(); }

}  // namespace advtk
