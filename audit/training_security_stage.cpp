// Training security: is a backdoor planted in the model (Neural Cleanse on the audit's examples as
// the clean inputs) or, when `advtk audit --train-data` gives the training set, a poisoned group
// in it (spectral signatures, activation clustering, deep k-NN; poisoning/backdoor_scan.h).
#include <cmath>
#include <iomanip>
#include <sstream>

#include "audit/audit_stages.h"
#include "audit/stage_runner.h"
#include "audit/trigger_image.h"
#include "core/error.h"
#include "data/image_folder.h"
#include "poisoning/backdoor_scan.h"

namespace advtk {
namespace {

constexpr const char* kImage = "triggers.png";

// "No class needs a much smaller trigger than the others (…)" / "Class 0 is a backdoor's target: …"
std::string sentence(const nlohmann::json& j) {
  std::ostringstream s;
  const nlohmann::json& nc = j["neural_cleanse"];
  const std::vector<double> norms = numbers_or_nan(nc["mask_norm"]);
  const std::vector<double> index = numbers_or_nan(nc["anomaly_index"]);
  s << std::fixed << std::setprecision(1);
  if (!nc["flagged"].empty()) {
    const int64_t t = j["target_class"];  // the flagged class with the smallest trigger
    s << "Neural Cleanse: class " << t << " is reached by a trigger of " << norms[t]
      << " pixels (anomaly index on log norms " << std::setprecision(2)
      << numbers_or_nan(nc["log_anomaly_index"])[t] << "; the paper's, on the norms, " << index[t]
      << "): the signature of a backdoor's target, or of a class that a small natural feature "
         "decides (the trigger picture and, with --train-data, the data detectors tell which)";
  } else {
    double lo = INFINITY, hi = -INFINITY;
    for (double v : norms)
      if (!std::isnan(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    s << "Neural Cleanse: no class needs a far smaller trigger than the others (" << lo << " to "
      << hi << " pixels)";
  }
  if (nc.contains("prescreen"))
    s << "; " << nc["searched"].size() << " of " << nc["classes"]
      << " classes were searched in full, picked by a pre-screen";
  if (j.contains("training_data")) {
    const nlohmann::json& t = j["training_data"];
    s << "; the training set (" << t["examples"] << " examples) ";
    if (t["poisoned_classes"].empty()) {
      s << "shows no poisoned group";
    } else {
      s << "holds a poisoned group in class";
      for (const auto& c : t["poisoned_classes"]) s << " " << c;
      s << " (" << j["suspicious_index"].size() << " examples flagged)";
    }
  }
  s << ". Verdict: " << j["verdict"].get<std::string>() << ".";
  return s.str();
}

NeuralCleanseOptions nc_options(const AuditOptions& o) {
  NeuralCleanseOptions nc;
  nc.steps = o.plan.backdoor_nc_steps;
  nc.batch_size = o.plan.backdoor_nc_batch;
  nc.seed = o.seed;
  return nc;
}

class TrainingSecurityStage final : public AuditStage {
 public:
  std::string name() const override { return "training-security"; }
  std::string skip_key() const override { return "backdoor"; }
  // Neural Cleanse searches all classes in one optimisation; the data detectors read the whole
  // training set: one rank runs it in a split run.
  StageScope scope() const override { return StageScope::WholeModel; }
  double work(const AuditOptions& o, int64_t, int64_t classes) const override {
    const AuditPlan& p = o.plan;
    const double train = o.train_data ? kForwardOnlyWork * o.train_data->size() : 0.0;
    return static_cast<double>(neural_cleanse_class_steps(nc_options(o), classes) *
                               p.backdoor_nc_batch) +
           train;
  }

  StageOutput run(const AuditSetup& s, const AuditState&, StageRunner& runner) const override {
    runner.begin(s.options.train_data ? "training security (Neural Cleanse, training-data scan)"
                                      : "training security (Neural Cleanse)");
    StageOutput out;
    out.sections["training_security"] =
        runner.measured(name(), [&](TensorMap& tensors) { return measure(s, runner, tensors); });
    const nlohmann::json& j = out.sections["training_security"];
    if (j.contains("seconds")) out.seconds[name()] = j["seconds"];
    if (j.contains("image")) {
      const TensorMap t = *runner.tensors(name());
      out.files[kImage] = encode_png(render_image_rows(
          trigger_image_rows(t.at("masks"), t.at("patterns"),
                             j["neural_cleanse"]["searched"].get<std::vector<int64_t>>(),
                             numbers_or_nan(j["neural_cleanse"]["mask_norm"]),
                             numbers_or_nan(j["neural_cleanse"]["anomaly_index"]))));
    }
    return out;
  }

  StageOutput skipped() const override {
    StageOutput out;
    out.sections["training_security"] = {{"skipped", true}, {"reason", "--skip backdoor"}};
    return out;
  }

 private:
  static nlohmann::json measure(const AuditSetup& s, StageRunner& runner, TensorMap& tensors) {
    const AuditPlan& plan = s.options.plan;
    const int64_t n = std::min(plan.backdoor_clean_inputs, s.examples());
    Dataset clean;
    clean.images = s.data.images.narrow(0, 0, n);
    clean.labels = s.data.labels.narrow(0, 0, n);
    clean.ids = s.data.example_ids().narrow(0, 0, n);
    clean.source = s.data.source;
    BackdoorScanOptions o;
    o.neural_cleanse = nc_options(s.options);
    o.training_data.clustering.seed = s.options.seed;
    o.batch_size = s.options.batch_size;
    const BackdoorScan scan =
        scan_for_backdoor(s.model, s.classes, clean, s.options.train_data, nullptr, o,
                          [&](const std::string& phase, int64_t done, int64_t total) {
                            if (phase == "neural cleanse") runner.report(done, total);
                          });
    nlohmann::json j = scan.json;
    tensors["masks"] = scan.neural_cleanse.masks;
    tensors["patterns"] = scan.neural_cleanse.patterns;
    j["summary"] = sentence(j);
    j["image"] = kImage;
    j["seconds"] = scan.neural_cleanse.seconds +
                   (j.contains("training_data") ? j["training_data"]["seconds"].get<double>() : 0);
    j["how_to_read"] =
        "Neural Cleanse (Wang et al. 2019) searches, for every class, the smallest mask and "
        "pattern that send the audit's clean examples to that class; a backdoor's target needs a "
        "far smaller one than any other class (the picture shows each class's mask and "
        "trigger). The anomaly index measures how far a class's mask norm lies below the "
        "median, in median absolute deviations; above 3 on log norms the class is flagged (the "
        "paper's rule, above 2 on the norms, is shown beside it but false-alarms on clean "
        "models with ten classes). With --train-data "
        "the training set is scanned in the model's feature space: spectral signatures (Tran et "
        "al. 2018), activation clustering (Chen et al. 2018) and deep k-NN for flipped labels "
        "(Peri et al. 2020), each first deciding per class, against the audit's examples as "
        "the clean reference, whether a foreign group is there at all. A short search (the "
        "quick budget) can miss a trigger: its no-evidence is weak evidence; advtk backdoor "
        "runs the full scan and STRIP on inputs.";
    return j;
  }
};

}  // namespace

std::unique_ptr<AuditStage> training_security_stage() {
  return std::make_unique<TrainingSecurityStage>();
}

}  // namespace advtk
