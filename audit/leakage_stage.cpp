// Gradient exposure: what one shared gradient of this model gives away about the batch it was
// computed on (leakage/leak_run.h) — a few client batches of 1 under a small table of defenses,
// and of 8 undefended; the closed form where the first layer allows it, else iDLG at batch 1 and
// Inverting Gradients at batch 8.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "audit/audit_stages.h"
#include "audit/image_grid.h"
#include "audit/stage_runner.h"
#include "core/error.h"
#include "data/image_folder.h"
#include "leakage/analytic_inversion.h"
#include "leakage/gradient_matching.h"
#include "leakage/label_inference.h"
#include "leakage/leak_run.h"

namespace advtk {
namespace {

constexpr const char* kImage = "leakage.png";

// The defenses of the batch-1 table: none, then a weak and a strong setting of each kind.
std::vector<GradientDefense> defense_table() {
  std::vector<GradientDefense> d(4);
  d[1].kind = DefenseKind::Noise;
  d[1].sigma = 0.01;
  d[2].kind = DefenseKind::Prune;
  d[2].prune_fraction = 0.2;
  d[3].kind = DefenseKind::Prune;
  d[3].prune_fraction = 0.5;
  return d;
}

Dataset first_examples(const Dataset& data, int64_t n) {
  Dataset d;
  d.images = data.images.narrow(0, 0, n);
  d.labels = data.labels.narrow(0, 0, n);
  d.ids = data.example_ids().narrow(0, 0, n);
  d.class_names = data.class_names;
  d.source = data.source;
  return d;
}

std::string db(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << v << " dB";
  return s.str();
}

nlohmann::json run_json(const LeakRun& r, LeakAttack attack, int64_t batch_size) {
  std::vector<double> psnr;
  for (const BatchLeak& b : r.batches) psnr.insert(psnr.end(), b.psnr.begin(), b.psnr.end());
  return {{"attack", leak_attack_name(attack)},
          {"batch_size", batch_size},
          {"defense", r.defense.name()},
          {"examples", static_cast<int64_t>(psnr.size())},
          {"median_psnr", r.median_psnr},
          {"median_ssim", r.median_ssim},
          {"label_accuracy", r.label_accuracy},
          {"utility_cosine", r.mean_utility_cosine},
          {"psnr", psnr},
          {"seconds", r.seconds}};
}

torch::Tensor stacked(const LeakRun& r, bool reconstructions) {
  std::vector<torch::Tensor> parts;
  for (const BatchLeak& b : r.batches) parts.push_back(reconstructions ? b.x_rec : b.x);
  return torch::cat(parts);
}

// "one shared gradient of a batch of 1 gives the image back at 24 dB PSNR and its label; …"
std::string sentence(const nlohmann::json& runs) {
  std::ostringstream s;
  const nlohmann::json& plain = runs[0];
  s << "One shared gradient of a batch of 1 gives the image back at " << db(plain["median_psnr"])
    << " PSNR (median, SSIM " << std::fixed << std::setprecision(2)
    << plain["median_ssim"].get<double>() << ") and its label in " << std::setprecision(0)
    << 100 * plain["label_accuracy"].get<double>() << "% of cases ("
    << plain["attack"].get<std::string>();
  size_t i = 1;
  // The other undefended batch-1 attack, when both ran.
  if (runs.size() > 1 && runs[1]["defense"] == "none" && runs[1]["batch_size"] == 1) {
    s << "; " << runs[1]["attack"].get<std::string>() << ": " << db(runs[1]["median_psnr"]);
    ++i;
  }
  s << ")";
  for (; i < runs.size(); ++i) {
    const nlohmann::json& r = runs[i];
    const std::string d = r["defense"];
    std::string what = d;
    if (d.rfind("prune=", 0) == 0)
      what = "pruning " +
             std::to_string(static_cast<int>(std::lround(100 * std::stod(d.substr(6))))) +
             "% of the gradient";
    else if (d.rfind("noise=", 0) == 0)
      what = "Gaussian noise of std " + d.substr(6);
    if (r["batch_size"].get<int64_t>() != 1)
      what = "a batch of " + std::to_string(r["batch_size"].get<int64_t>()) + " (" +
             r["attack"].get<std::string>() + ")";
    s << (i + 1 == runs.size() ? "; and " : "; ") << what
      << (r["batch_size"] == 1 ? " brings it to " : " gives ") << db(r["median_psnr"]);
  }
  s << ". Above about 20 dB a reconstruction is recognisably the private image.";
  return s.str();
}

class LeakageStage final : public AuditStage {
 public:
  std::string name() const override { return "leakage"; }
  std::string skip_key() const override { return "leakage"; }
  StageScope scope() const override { return StageScope::WholeModel; }
  // Each evaluation of the matching objective is about three forward+backward passes (the
  // gradient with its graph, then its derivative); an L-BFGS step makes up to 25 evaluations.
  double work(const AuditOptions& o, int64_t, int64_t) const override {
    const AuditPlan& p = o.plan;
    const double lbfgs = 25.0 * p.leakage_dlg_iterations, ig = 1.0 * p.leakage_ig_iterations;
    const auto defended = static_cast<double>(defense_table().size() - 1);
    return 3.0 * p.leakage_batches * (lbfgs + ig + defended * std::max(lbfgs, ig)) +
           3.0 * 8.0 * ig * p.leakage_batches_of_8;
  }

  StageOutput run(const AuditSetup& s, const AuditState&, StageRunner& runner) const override {
    runner.begin("gradient exposure (gradient inversion from a shared gradient)");
    StageOutput out;
    out.sections["gradient_exposure"] = runner.measured(name(), [&](TensorMap& tensors) {
      runner.seed_global_generator(name());
      return measure(s, runner, tensors);
    });
    const nlohmann::json& j = out.sections["gradient_exposure"];
    if (j.contains("seconds")) out.seconds[name()] = j["seconds"];
    if (j.contains("image")) {
      const TensorMap t = *runner.tensors(name());
      std::vector<ImageRow> rows = {{"original", t.at("x"), {}}};
      for (size_t i = 0; i < j["runs"].size(); ++i) {
        const std::string key = "x_rec_" + std::to_string(i);
        if (!t.count(key)) continue;
        ImageRow row{j["runs"][i]["attack"].get<std::string>() + ", " +
                         j["runs"][i]["defense"].get<std::string>(),
                     t.at(key),
                     {}};
        for (int64_t k = 0; k < t.at(key).size(0); ++k)
          row.captions.push_back(db(j["runs"][i]["psnr"][k].get<double>()));
        rows.push_back(row);
      }
      out.files[kImage] = encode_png(render_image_rows(rows));
    }
    return out;
  }

  StageOutput skipped() const override {
    StageOutput out;
    out.sections["gradient_exposure"] = {{"skipped", true}, {"reason", "--skip leakage"}};
    return out;
  }

 private:
  static nlohmann::json measure(const AuditSetup& s, StageRunner& runner, TensorMap& tensors) {
    const AuditPlan& plan = s.options.plan;
    Model model = s.model;  // the same module; run_leak makes its parameters trainable a while
    const std::vector<int64_t> shape = {s.data.images.size(1), s.data.images.size(2),
                                        s.data.images.size(3)};
    const std::vector<torch::Tensor> params = shared_parameters(model);
    const bool analytic =
        find_first_linear_layer(params, shape[0] * shape[1] * shape[2]).has_value();
    if (!analytic) {
      ADVTK_CHECK(find_output_layer(params, s.data.num_classes()).has_value(), "no output layer [",
                  s.data.num_classes(),
                  ", F] to read labels from (advtk leak --attack dlg learns them)");
      if (const auto why = second_order_failure(model, shape, s.data.num_classes(), {}))
        throw Error("the model's parameter gradient cannot be differentiated again (" + *why + ")");
    }
    const auto start = std::chrono::steady_clock::now();
    const std::vector<GradientDefense> table = defense_table();
    const int64_t n1 = std::min<int64_t>(plan.leakage_batches, s.examples());
    const int64_t n8 = std::min<int64_t>(plan.leakage_batches_of_8, s.examples() / 8);
    const Dataset first = first_examples(s.data, n1);
    const int64_t total = n1 * static_cast<int64_t>(table.size() + (analytic ? 0 : 1)) + n8;
    int64_t offset = 0;
    const LeakProgress progress = [&](int64_t done, int64_t) {
      runner.report(offset + done, total);
    };
    LeakOptions base;
    base.seed = s.options.seed;
    base.dlg.iterations = plan.leakage_dlg_iterations;
    base.ig.iterations = plan.leakage_ig_iterations;
    std::vector<LeakRun> rows;  // batch 1, in report order
    std::vector<LeakAttack> attacks;
    const auto run = [&](LeakAttack attack, const std::vector<GradientDefense>& defenses) {
      LeakOptions o = base;
      o.attack = attack;
      o.defenses = defenses;
      for (LeakRun& r : run_leak(model, first, o, progress)) {
        rows.push_back(std::move(r));
        attacks.push_back(attack);
      }
      offset += n1 * static_cast<int64_t>(defenses.size());
    };
    if (analytic) {
      run(LeakAttack::Analytic, table);
    } else {
      // Undefended, both ways of matching: L-BFGS (iDLG) excels on smooth models, signed Adam
      // with a prior (Inverting Gradients) where ReLUs make the matching loss piecewise; the
      // stronger of the two, on these examples, faces the defenses.
      run(LeakAttack::Idlg, {table[0]});
      run(LeakAttack::InvertingGradients, {table[0]});
      if (rows[1].median_psnr > rows[0].median_psnr) {
        std::swap(rows[0], rows[1]);
        std::swap(attacks[0], attacks[1]);
      }
      run(attacks[0], std::vector<GradientDefense>(table.begin() + 1, table.end()));
    }
    nlohmann::json runs = nlohmann::json::array();
    for (size_t i = 0; i < rows.size(); ++i) runs.push_back(run_json(rows[i], attacks[i], 1));
    const int64_t shown = std::min<int64_t>(n1, 8);
    tensors["x"] = stacked(rows[0], false).narrow(0, 0, shown);
    for (size_t i = 0; i < rows.size(); ++i)
      tensors["x_rec_" + std::to_string(i)] = stacked(rows[i], true).narrow(0, 0, shown);
    if (n8 > 0) {
      LeakOptions eight;
      eight.attack = analytic ? LeakAttack::Analytic : LeakAttack::InvertingGradients;
      eight.batch_size = 8;
      eight.ig.iterations = plan.leakage_ig_iterations;
      eight.seed = s.options.seed;
      const std::vector<LeakRun> runs8 =
          run_leak(model, first_examples(s.data, 8 * n8), eight, progress);
      runs.push_back(run_json(runs8[0], eight.attack, 8));
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return {
        {"attack_batch_1", leak_attack_name(attacks[0])},
        {"attack_batch_8",
         leak_attack_name(analytic ? LeakAttack::Analytic : LeakAttack::InvertingGradients)},
        {"iterations", analytic ? nlohmann::json(nullptr)
                                : nlohmann::json({{"idlg_lbfgs_steps", plan.leakage_dlg_iterations},
                                                  {"ig_iterations", plan.leakage_ig_iterations}})},
        {"runs", runs},
        {"summary", sentence(runs)},
        {"image", kImage},
        {"seconds", seconds},
        {"how_to_read",
         "A federated-learning client shares the gradient of its loss on a private batch. "
         "Each row reconstructs such batches from the shared gradient and the model alone "
         "(the first examples of the audit data; Phong et al. 2017's closed form when the "
         "model starts with a linear layer, else iDLG (Zhao et al. 2020) and Inverting "
         "Gradients (Geiping et al. 2020) at batch 1 — the stronger then under each defense — "
         "and Inverting Gradients at batch 8) and scores them against the "
         "originals after a one-to-one matching: PSNR (dB; 100 = exact) and SSIM. Utility is "
         "the cosine between the defended and the true gradient: what the defense leaves of "
         "the update. advtk leak runs the full table with more examples and defenses."}};
  }
};

}  // namespace

std::unique_ptr<AuditStage> leakage_stage() { return std::make_unique<LeakageStage>(); }

}  // namespace advtk
