#include "diagnostics/numerical_probe.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/seeding.h"
#include "diagnostics/masking_support.h"

namespace advtk {
namespace {

std::string percent_3_digits(double fraction) {
  std::ostringstream s;
  s.precision(3);
  s << 100 * fraction << "%";
  return s.str();
}

// Logits of a probe input, with NaN allowed through (the model sees exactly what was built).
ExtremeProbe run_probe(const Model& model, std::string id, std::string description,
                       const torch::Tensor& x, const torch::Tensor& clean_pred, bool finite_input,
                       int64_t batch_size) {
  ExtremeProbe p;
  p.id = std::move(id);
  p.description = std::move(description);
  p.finite_input = finite_input;
  p.inputs = x.size(0);
  const torch::Tensor logits = batched_logits(model, x, batch_size);
  const torch::Tensor finite_rows = torch::isfinite(logits).all(1);
  p.nonfinite_outputs = (~finite_rows).sum().item<int64_t>();
  const torch::Tensor pred = logits.argmax(1);
  if (clean_pred.defined()) {
    p.prediction_flips =
        (pred.ne(clean_pred) & finite_rows).sum().item<int64_t>() + p.nonfinite_outputs;
  } else {
    p.prediction_flips = -1;
    for (int64_t i = 0; i < pred.size(0); ++i)
      p.predicted_classes.push_back(pred[i].item<int64_t>());
  }
  if (finite_rows.any().item<bool>())
    p.max_abs_logit = logits.index({finite_rows}).abs().max().item<double>();
  return p;
}

}  // namespace

NumericalReport probe_numerics(const Model& model, const Dataset& data,
                               const NumericalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = std::min(options.examples, data.size());
  ADVTK_CHECK(n > 0, "numerical probes: no examples");
  const double lo = model.options().input_lo, hi = model.options().input_hi, range = hi - lo;
  const torch::Tensor x = model.from_unit_range(data.images.narrow(0, 0, n)).to(torch::kFloat);
  const torch::Tensor y = data.labels.narrow(0, 0, n);
  const torch::Tensor clean_pred = predictions(model, x, options.batch_size);
  const int64_t b = options.batch_size;
  NumericalReport r;

  const auto constant = [&](double value) {
    return torch::full({1}, value).expand_as(x[0]).unsqueeze(0).contiguous();
  };
  r.probes.push_back(run_probe(model, "all-lo", "one image, every pixel at the range's low end",
                               constant(lo), {}, true, b));
  r.probes.push_back(run_probe(model, "all-hi", "one image, every pixel at the range's high end",
                               constant(hi), {}, true, b));
  r.probes.push_back(run_probe(model, "mid-grey", "one image, every pixel mid-range",
                               constant(lo + range / 2), {}, true, b));
  r.probes.push_back(run_probe(model, "scaled-x10",
                               "each image stretched to 10x the input range (lo + 10(x - lo))",
                               lo + 10 * (x - lo), clean_pred, true, b));
  r.probes.push_back(run_probe(model, "mirrored-below",
                               "each image mirrored below the range (lo - (x - lo))", lo - (x - lo),
                               clean_pred, true, b));
  torch::Generator gen = make_generator(options.seed, 0x70be);
  const torch::Tensor noise =
      (torch::rand(x.sizes(), gen) * 2 - 1).to(x.device()) * (options.tiny_noise * range);
  r.probes.push_back(run_probe(model, "tiny-noise",
                               "uniform noise of " + concat(options.tiny_noise) +
                                   " of the range added (clipped to the range)",
                               (x + noise).clamp(lo, hi), clean_pred, true, b));
  const int64_t h = x.size(2) / 2, w = x.size(3) / 2;
  torch::Tensor nan_x = x.clone();
  nan_x.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), h, w},
                   std::numeric_limits<float>::quiet_NaN());
  r.probes.push_back(run_probe(model, "nan-pixel", "the centre pixel of each image set to NaN",
                               nan_x, clean_pred, false, b));
  torch::Tensor inf_x = x.clone();
  inf_x.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), h, w},
                   std::numeric_limits<float>::infinity());
  r.probes.push_back(run_probe(model, "inf-pixel", "the centre pixel of each image set to +Inf",
                               inf_x, clean_pred, false, b));

  for (ExtremeProbe& p : r.probes) {
    if (p.finite_input && p.nonfinite_outputs > 0) {
      p.flagged = true;
      p.finding = "non-finite outputs on " + std::to_string(p.nonfinite_outputs) + " of " +
                  std::to_string(p.inputs) + " finite inputs (" + p.description + ")";
    } else if (!p.finite_input && p.nonfinite_outputs < p.inputs) {
      p.flagged = true;
      p.finding = std::to_string(p.inputs - p.nonfinite_outputs) + " of " +
                  std::to_string(p.inputs) +
                  " inputs with a non-finite pixel got a finite prediction: corrupt inputs pass "
                  "silently (" +
                  p.id + "); validate inputs before the model";
    } else if (p.id == "tiny-noise" && p.prediction_flips > 0.01 * p.inputs) {
      p.flagged = true;
      p.finding = "noise of " + concat(options.tiny_noise) + " of the range flips " +
                  percent_3_digits(static_cast<double>(p.prediction_flips) / p.inputs) +
                  " of the predictions: unstable (or randomised) outputs";
    }
    if (p.flagged) r.flags.push_back(p.finding);
  }

  const Gradients g = input_gradients(model, x, y, LossKind::CrossEntropy, b);
  const torch::Tensor norms = g.grad.to(torch::kDouble).norm(2, {1});
  const torch::Tensor finite = torch::isfinite(norms);
  GradientFigures& f = r.gradient;
  f.examples = n;
  f.fraction_nonfinite = 1.0 - finite.to(torch::kDouble).mean().item<double>();
  if (finite.any().item<bool>()) {
    const torch::Tensor ok = norms.index({finite});
    f.median_l2 = ok.median().item<double>();
    f.max_l2 = ok.max().item<double>();
    f.fraction_zero = ok.lt(1e-12).sum().item<double>() / n;
  }
  const torch::Tensor margin =
      input_gradients(model, x, y, LossKind::Margin, b).grad.to(torch::kDouble).norm(2, {1});
  const torch::Tensor margin_ok = margin.index({torch::isfinite(margin)});
  if (margin_ok.numel() > 0) {
    f.margin_median_l2 = margin_ok.median().item<double>();
    f.margin_max_l2 = margin_ok.max().item<double>();
    if (f.margin_median_l2 > 0)
      f.fraction_exploding =
          margin_ok.gt(options.explode_factor * f.margin_median_l2).sum().item<double>() / n;
  }
  if (f.fraction_nonfinite > 0)
    r.flags.push_back("non-finite input gradients on " + percent_3_digits(f.fraction_nonfinite) +
                      " of the examples");
  if (f.fraction_zero > 0.1)
    r.flags.push_back("zero input gradients on " + percent_3_digits(f.fraction_zero) +
                      " of the examples: gradient attacks get no signal there (see the masking "
                      "section)");
  if (f.fraction_exploding > 0.01)
    r.flags.push_back("exploding input gradients (the logit margin's, over " +
                      std::to_string(static_cast<int>(options.explode_factor)) +
                      "x its median) on " + percent_3_digits(f.fraction_exploding) +
                      " of the examples");

  for (const auto& p : model.parameters()) {
    if (!torch::isfinite(p.detach()).all().item<bool>()) r.nonfinite_parameters = true;
  }
  if (r.nonfinite_parameters) r.flags.push_back("the model has NaN or Inf weights");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

nlohmann::json to_json(const NumericalReport& r) {
  nlohmann::json probes = nlohmann::json::array();
  for (const ExtremeProbe& p : r.probes) {
    nlohmann::json j = {{"id", p.id},
                        {"description", p.description},
                        {"finite_input", p.finite_input},
                        {"inputs", p.inputs},
                        {"nonfinite_outputs", p.nonfinite_outputs},
                        {"max_abs_logit", p.max_abs_logit},
                        {"flagged", p.flagged}};
    if (p.prediction_flips >= 0) {
      j["prediction_flips"] = p.prediction_flips;
    } else {
      j["predicted_classes"] = p.predicted_classes;
    }
    if (p.flagged) j["finding"] = p.finding;
    probes.push_back(j);
  }
  const GradientFigures& g = r.gradient;
  return {{"probes", probes},
          {"input_gradient",
           {{"examples", g.examples},
            {"loss", "cross-entropy"},
            {"median_l2", g.median_l2},
            {"max_l2", g.max_l2},
            {"fraction_zero", g.fraction_zero},
            {"margin_median_l2", g.margin_median_l2},
            {"margin_max_l2", g.margin_max_l2},
            {"fraction_exploding", g.fraction_exploding},
            {"fraction_nonfinite", g.fraction_nonfinite}}},
          {"nonfinite_parameters", r.nonfinite_parameters},
          {"flags", r.flags},
          {"seconds", r.seconds}};
}

}  // namespace advtk
