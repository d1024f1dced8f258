#include "audit/report.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "audit/svg_chart.h"

namespace advtk {
namespace {

using json = nlohmann::json;
using Kind = ReportBlock::Kind;

std::string pct(const json& v) {
  if (!v.is_number()) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << 100 * v.get<double>() << "%";
  return s.str();
}

std::string num(const json& v, int precision = 4) {
  if (!v.is_number()) return "-";
  std::ostringstream s;
  s << std::setprecision(precision) << v.get<double>();
  return s.str();
}

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

double value_or_nan(const json& v) { return v.is_number() ? v.get<double>() : NAN; }

struct Builder {
  std::vector<ReportBlock> blocks;
  void heading(const std::string& t, int level = 2) {
    ReportBlock b;
    b.kind = Kind::Heading;
    b.level = level;
    b.text = t;
    blocks.push_back(b);
  }
  void paragraph(const std::string& t) {
    ReportBlock b;
    b.text = t;
    blocks.push_back(b);
  }
  void table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows) {
    ReportBlock b;
    b.kind = Kind::Table;
    b.header = std::move(header);
    b.rows = std::move(rows);
    blocks.push_back(b);
  }
  void chart(std::string svg) {
    ReportBlock b;
    b.kind = Kind::Chart;
    b.text = std::move(svg);
    blocks.push_back(b);
  }
  void image(const std::string& file, const std::string& alt, const ReportImages& images) {
    if (!images.count(file)) return;
    ReportBlock b;
    b.kind = Kind::Image;
    b.text = file;
    b.alt = alt;
    blocks.push_back(b);
  }
  void flags(const std::vector<std::string>& items) {
    ReportBlock b;
    b.kind = Kind::Flags;
    for (const auto& i : items) b.rows.push_back({i});
    blocks.push_back(b);
  }
};

std::string class_name(const json& report, int64_t c) {
  const json& names = report["data"]["class_names"];
  if (names.is_array() && c < static_cast<int64_t>(names.size()))
    return names[c].get<std::string>();
  return std::to_string(c);
}

}  // namespace

std::vector<ReportBlock> build_report(const json& r, const ReportImages& images) {
  Builder b;
  const json& settings = r["settings"];
  const std::string norm = settings["norm"].get<std::string>();
  const std::string main_eps = num(r["main_eps"]);
  const bool masking_ran = !r["masking"].value("skipped", false);

  b.heading("advtk robustness audit: " + text(r["model"].value("path", json("model"))), 1);
  std::vector<std::string> summary = {
      "Clean accuracy " + pct(r["clean_accuracy"]) + " on " + text(r["data"]["examples"]) +
          " examples of " + text(r["data"]["source"]) + ".",
      "Robust accuracy at " + norm + " eps " + main_eps + " (per-example worst case over " +
          r.value("main_robust_accuracy_from", std::string("the attacks below")) +
          " attacks): " + pct(r["main_robust_accuracy"]) +
          " — an upper bound on the true robust accuracy, not a proof."};
  for (const auto& s : r.value("skipped_attacks", json::array()))
    summary.push_back("Attack " + text(s["attack"]) + " not run: " + text(s["reason"]) +
                      (s.contains("replaced_by") ? "; " + text(s["replaced_by"]) + " runs instead"
                                                 : std::string()) +
                      ".");
  if (masking_ran)
    summary.push_back("Gradient-masking verdict (on its " + text(r["masking"]["points"]) +
                      " clean-correct points at eps " + num(r["masking"]["eps"]) + "): " +
                      text(r["masking"]["verdict"]) + " — " + text(r["masking"]["message"]));
  for (const auto& f : r["numerical"]["flags"]) summary.push_back("Numerical: " + text(f));
  if (r.contains("gradient_exposure") && r["gradient_exposure"].contains("summary"))
    summary.push_back("Gradient exposure: " + text(r["gradient_exposure"]["summary"]));
  if (r.contains("training_security") && r["training_security"].contains("summary"))
    summary.push_back("Training security: " + text(r["training_security"]["summary"]));
  if (r.contains("randomised") && r["randomised"].value("detected", false))
    summary.push_back("Randomised model: " + text(r["randomised"]["how_to_read"]) +
                      " (so the robust accuracy, a majority figure, is not bounded by the clean "
                      "accuracy, an expectation).");
  for (const auto& c : r.value("checks", json::array()))
    if (c["warning"].get<bool>())
      summary.push_back("Check " + text(c["check"]) + ": " + text(c["message"]));
  if (r.contains("gate")) summary.push_back("Gate: " + text(r["gate"]["message"]));
  b.flags(summary);

  // 1. Model and data.
  b.heading("1. Model and data");
  const json& m = r["model"];
  std::vector<std::vector<std::string>> rows = {
      {"model file", text(m.value("path", json(nullptr)))},
      {"SHA-256", text(m.value("sha256", json(nullptr)))},
      {"parameters", text(m["parameters"])},
      {"input shape (C, H, W)", text(m["input_shape"])},
      {"input range", text(m["input_range"])},
      {"outputs (classes)", text(m["outputs"])},
      {"output looks like probabilities", text(m["output_looks_like_probabilities"])},
      {"device", text(m["device"])},
      {"data", text(r["data"]["source"]) + ", " + text(r["data"]["examples"]) + " examples"},
      {"audit budget", text(settings["budget"]) + ", " + norm + " eps " + text(settings["eps"]) +
                           ", seed " + text(settings["seed"])},
      {"clean accuracy", pct(r["clean_accuracy"])},
      {"mean cross-entropy", num(r["clean"]["mean_loss"])}};
  b.table({"", ""}, rows);

  // 2. Adversarial testing.
  b.heading("2. Adversarial testing");
  b.paragraph(
      "Each attack runs on every clean-correct example, independently of the others; "
      "within one attack, an example broken at a smaller budget counts as broken at the "
      "larger ones (the balls are nested) and is not attacked again. An example counts as "
      "robust under the worst case only if every attack failed on it, including the "
      "minimum-norm attacks within the budget (on the examples they ran on) and, from the "
      "main budget up, the masking check's adaptive attacks. Robust accuracy is over all "
      "examples (clean mistakes count as broken).");
  std::vector<std::string> header = {"attack"};
  for (const auto& e : settings["eps"]) header.push_back("eps " + num(e));
  header.push_back("seconds");
  std::map<std::string, std::vector<std::string>> by_attack;
  std::map<std::string, ChartSeries> series;
  std::vector<std::string> order;
  for (const auto& a : r["attacks"]) {
    const std::string name = a["attack"].get<std::string>();
    if (!by_attack.count(name)) {
      order.push_back(name);
      by_attack[name] = {name};
      series[name] = {name, {{0.0, r["clean_accuracy"].get<double>()}}};
    }
    by_attack[name].push_back(pct(a["robust_accuracy"]));
    series[name].points.emplace_back(a["eps"].get<double>(), a["robust_accuracy"].get<double>());
    if (a["seconds"].is_number()) by_attack[name].push_back(num(a["seconds"], 3));
  }
  rows.clear();
  std::vector<ChartSeries> chart;
  for (const auto& name : order) {
    rows.push_back(by_attack[name]);
    chart.push_back(series[name]);
  }
  std::vector<std::string> worst_row = {"worst case"};
  ChartSeries worst{"worst case", {{0.0, r["clean_accuracy"].get<double>()}}};
  for (const auto& w : r["worst_case"]) {
    worst_row.push_back(pct(w["robust_accuracy"]));
    worst.points.emplace_back(w["eps"].get<double>(), w["robust_accuracy"].get<double>());
  }
  worst_row.push_back("");
  rows.push_back(worst_row);
  chart.push_back(worst);
  b.table(header, rows);
  b.chart(line_chart_svg("Robust accuracy vs budget (" + norm + ")", norm + " budget eps", chart));

  // Which attack broke what at the main budget.
  for (const auto& w : r["worst_case"]) {
    if (w["eps"] != r["main_eps"]) continue;
    rows.clear();
    for (const auto& [name, count] : w["broken_by"].items())
      rows.push_back({name, text(count), text(w["only_broken_by"][name])});
    b.paragraph("At eps " + main_eps +
                ", examples each attack broke, and those no other attack "
                "broke:");
    b.table({"attack", "broken", "broken only by it"}, rows);
    // Per-class accuracy, clean and robust.
    rows.clear();
    std::vector<std::string> classes;
    ChartSeries clean_s{"clean", {}}, robust_s{"robust (worst case)", {}};
    const json& pc = r["clean"]["per_class_accuracy"];
    const json& pr = w["per_class_robust_accuracy"];
    for (size_t c = 0; c < pc.size(); ++c) {
      classes.push_back(class_name(r, static_cast<int64_t>(c)));
      rows.push_back({classes.back(), pct(pc[c]), pct(pr[c])});
      clean_s.points.emplace_back(c, value_or_nan(pc[c]));
      robust_s.points.emplace_back(c, value_or_nan(pr[c]));
    }
    b.table({"class", "clean", "robust at eps " + main_eps}, rows);
    b.chart(bar_chart_svg("Per-class accuracy, clean and at eps " + main_eps, classes,
                          {clean_s, robust_s}));
  }

  if (!r["min_norm"].empty()) {
    b.heading("Minimum-norm perturbations", 3);
    b.paragraph(
        "The smallest perturbation each attack found per clean-correct example among the "
        "first examples it ran on (a point it could not break counts as infinitely far: '-' "
        "below). Larger is more robust.");
    rows.clear();
    for (const auto& e : r["min_norm"]) {
      rows.push_back({text(e["attack"]), text(e["norm"]), text(e["points"]), text(e["failed"]),
                      num(e["q1"]), num(e["median"]), num(e["q3"])});
    }
    b.table({"attack", "norm", "points", "failed", "25%", "median", "75%"}, rows);
    for (const auto& e : r["min_norm"]) {
      std::vector<double> edges, counts;
      for (const auto& v : e["histogram"]["edges"]) edges.push_back(v.get<double>());
      for (const auto& v : e["histogram"]["counts"]) counts.push_back(v.get<double>());
      if (!counts.empty())
        b.chart(histogram_svg("Minimal " + text(e["norm"]) + " perturbation: " + text(e["attack"]),
                              text(e["norm"]) + " distance", edges, counts));
    }
  }
  if (!r["fragile_examples"].empty()) {
    b.heading("The most fragile examples", 3);
    b.paragraph(
        "Smallest DeepFool perturbations: clean image, perturbation (amplified; grey = "
        "0), adversarial image.");
    b.image("fragile.png", "the most fragile examples", images);
    rows.clear();
    for (const auto& f : r["fragile_examples"])
      rows.push_back({text(f["id"]), class_name(r, f["label"].get<int64_t>()),
                      class_name(r, f["prediction"].get<int64_t>()),
                      text(f["norm"]) + " " + num(f["distance"])});
    b.table({"example", "label", "adversarial prediction", "distance"}, rows);
  }

  // 3. Robustness verification.
  b.heading("3. Robustness verification (gradient masking)");
  if (!masking_ran) {
    b.paragraph("Skipped: " + r["masking"].value("reason", std::string("--skip masking")) + ".");
  } else {
    const json& k = r["masking"];
    b.paragraph("Verdict: **" + text(k["verdict"]) + "** — " + text(k["message"]) + ". On " +
                text(k["points"]) + " clean-correct points at eps " + num(k["eps"]) + ": plain " +
                k.value("baseline", std::string("PGD")) + " leaves " +
                pct(k["pgd_robust_accuracy"]) + " of these points robust, the adaptive ladder " +
                pct(k["adaptive_robust_accuracy"]) + ".");
    rows.clear();
    for (const auto& i : k["indicators"]) {
      const bool fired = i["fired"].get<bool>();
      const bool symptom = i.value("masking_symptom", fired);
      rows.push_back({text(i["number"]), text(i["id"]),
                      symptom ? "FIRED"
                      : fired ? "fired: the attack, not masking"
                              : "no",
                      text(i["detail"])});
    }
    b.table({"#", "indicator", "fired", "evidence"}, rows);
    rows.clear();
    for (const auto& t : k["retries"]) {
      if (t.contains("skipped")) {
        rows.push_back({text(t["step"]), text(t["attack"]), "skipped", text(t["skipped"]), ""});
        continue;
      }
      rows.push_back({text(t["step"]), text(t["attack"]), pct(t["robust_accuracy_before"]),
                      pct(t["robust_accuracy_after"]), text(t["broken"])});
    }
    if (k.contains("bpda_blocked")) b.paragraph("BPDA: " + text(k["bpda_blocked"]) + ".");
    if (!rows.empty()) b.table({"step", "retry", "before", "after", "broken"}, rows);
    if (k.contains("worst_case_robust_accuracy"))
      b.paragraph(
          "Over every attack of the check at its budget (PGD, FGSM, APGD-CE, Square, transfer, "
          "noise, the convergence runs and the ladder) " +
          pct(k["worst_case_robust_accuracy"]) +
          " of its points stay robust; each of those breaks joins the worst case above "
          "from the main budget up.");
  }
  const json adaptive = r.value("adaptive", json::object());
  if (adaptive.value("ran", false) || adaptive.contains("why")) {
    b.heading("Adaptive attacks on every example", 3);
    b.paragraph(text(adaptive["why"]) + ".");
    rows.clear();
    for (const auto& t : adaptive["attacks"]) {
      std::string broken;
      for (const auto& e : t["broken"])
        broken += (broken.empty() ? "" : ", ") + text(e["examples"]) + " at " + num(e["eps"]);
      rows.push_back({text(t["step"]), text(t["attack"]), text(t["examples_attacked"]), broken});
    }
    if (!rows.empty())
      b.table({"step", "attack", "examples attacked", "broken (of those) per eps"}, rows);
  }

  // 4. Numerical exploitation.
  b.heading("4. Numerical exploitation");
  const json& nmr = r["numerical"];
  rows.clear();
  for (const auto& p : nmr["probes"]) {
    rows.push_back({text(p["id"]), text(p["description"]), text(p["inputs"]),
                    text(p["nonfinite_outputs"]),
                    p.contains("prediction_flips") ? text(p["prediction_flips"])
                                                   : "class " + text(p["predicted_classes"]),
                    num(p["max_abs_logit"]), p["flagged"].get<bool>() ? "FLAG" : ""});
  }
  b.table({"probe", "input", "inputs", "non-finite outputs", "prediction flips", "max |logit|", ""},
          rows);
  const json& g = nmr["input_gradient"];
  b.table({"input gradient (CE), L2 norm", "value"},
          {{"examples", text(g["examples"])},
           {"median", num(g["median_l2"])},
           {"max", num(g["max_l2"])},
           {"fraction zero", pct(g["fraction_zero"])},
           {"logit-margin gradient: median", num(g["margin_median_l2"])},
           {"logit-margin gradient: max", num(g["margin_max_l2"])},
           {"fraction exploding", pct(g["fraction_exploding"])},
           {"fraction non-finite", pct(g["fraction_nonfinite"])}});
  std::vector<std::string> flags;
  for (const auto& f : nmr["flags"]) flags.push_back(text(f));
  if (flags.empty()) flags.push_back("No numerical findings.");
  b.flags(flags);

  // 5. Convergence.
  b.heading("5. Convergence: sharp or flat minimum");
  const json& s = r["sharpness"];
  if (s.value("skipped", false)) {
    b.paragraph("Skipped: " + s.value("reason", std::string("--skip sharpness")) + ".");
  } else {
    rows = {{"examples", text(s["examples"])},
            {"loss at the weights", num(s["loss"])},
            {"top Hessian eigenvalue", num(s["top_hessian_eigenvalue"])},
            {"power iterations",
             text(s["power_iterations"]) +
                 (s["converged"].get<bool>() ? " (converged)" : " (not converged)")}};
    for (const auto& p : s["weight_perturbation"])
      rows.push_back({"mean loss increase, rho " + num(p["rho"]),
                      num(p["mean_loss_increase"]) + " (sd " + num(p["std_loss_increase"], 2) +
                          ", max " + num(p["max_loss_increase"]) + ")"});
    b.table({"measure", "value"}, rows);
    b.paragraph(text(s["how_to_read"]));
  }

  // 6. Gradient exposure.
  b.heading("6. Gradient exposure: private data in a shared gradient");
  const json& ge = r.value("gradient_exposure", json::object());
  if (ge.value("skipped", false) || !ge.contains("runs")) {
    b.paragraph("Skipped: " + ge.value("reason", std::string("--skip leakage")) + ".");
  } else {
    b.paragraph(text(ge["summary"]));
    rows.clear();
    for (const auto& run : ge["runs"])
      rows.push_back({text(run["batch_size"]), text(run["attack"]), text(run["defense"]),
                      text(run["examples"]), num(run["median_psnr"], 3) + " dB",
                      num(run["median_ssim"], 3), pct(run["label_accuracy"]),
                      num(run["utility_cosine"], 3)});
    b.table({"batch", "attack", "defense", "images", "median PSNR", "median SSIM", "labels",
             "utility (cosine)"},
            rows);
    b.paragraph(
        "Originals (top) and their reconstructions under each defense of the batch-1 "
        "rows, with each image's PSNR.");
    b.image(text(ge["image"]), "originals and their reconstructions from shared gradients", images);
    b.paragraph(text(ge["how_to_read"]));
  }

  // 7. Training security.
  b.heading("7. Training security: backdoors and poisoned training data");
  const json& ts = r.value("training_security", json::object());
  if (ts.value("skipped", false) || !ts.contains("neural_cleanse")) {
    b.paragraph("Skipped: " + ts.value("reason", std::string("--skip backdoor")) + ".");
  } else {
    b.paragraph(text(ts["summary"]));
    rows.clear();
    const json& nc = ts["neural_cleanse"];
    if (nc.contains("prescreen")) b.paragraph(text(nc["prescreen"]["note"]) + ".");
    for (const auto& searched : nc["searched"]) {
      const size_t c = searched.get<size_t>();
      const bool flagged = std::find(nc["flagged"].begin(), nc["flagged"].end(),
                                     json(static_cast<int64_t>(c))) != nc["flagged"].end();
      rows.push_back({text(c), num(nc["mask_norm"][c], 3), num(nc["anomaly_index"][c], 3),
                      pct(nc["attack_success"][c]), flagged ? "flagged" : ""});
    }
    b.table({"class", "trigger mask L1 (pixels)", "anomaly index", "trigger success", ""}, rows);
    b.image(text(ts["image"]), "reverse-engineered triggers per class (mask, mask x pattern)",
            images);
    if (ts.contains("training_data")) {
      rows.clear();
      const auto flagged_classes = [](const json& classes, const char* key) {
        std::string out;
        for (const auto& c : classes) {
          const bool f = c[key].is_boolean() ? c[key].get<bool>() : c[key].get<int64_t>() >= 0;
          if (f) out += (out.empty() ? "" : " ") + text(c["class"]);
        }
        return out.empty() ? std::string("none") : out;
      };
      rows.push_back({"spectral signatures", flagged_classes(ts["spectral"]["classes"], "flagged"),
                      text(ts["spectral"]["flagged"].size())});
      rows.push_back({"activation clustering",
                      flagged_classes(ts["activation_clustering"]["classes"], "flagged_cluster"),
                      text(ts["activation_clustering"]["flagged"].size())});
      rows.push_back({"deep k-NN", flagged_classes(ts["deep_knn"]["classes"], "flagged"),
                      text(ts["deep_knn"]["flagged"].size())});
      b.table({"training-data detector", "classes with a poisoned group", "examples flagged"},
              rows);
    }
    b.paragraph(text(ts["how_to_read"]));
  }

  // Environment.
  b.heading("Environment");
  const json& env = r["environment"];
  rows = {{"advtk", text(env["advtk"])},   {"LibTorch", text(env["libtorch"])},
          {"BLAS", text(env["blas"])},     {"threads", text(env["threads"])},
          {"device", text(env["device"])}, {"audit seconds", num(env["seconds"], 4)}};
  for (const auto& [stage, secs] : env["stage_seconds"].items())
    rows.push_back({"  " + stage, num(secs, 4) + " s"});
  b.table({"", ""}, rows);
  return b.blocks;
}

}  // namespace advtk
