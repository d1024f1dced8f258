#include "poisoning/strip.h"

#include <cmath>

#include "core/error.h"
#include "core/seeding.h"
#include "eval/batched.h"

namespace advtk {
namespace {

// The inverse of the standard normal CDF (Acklam's rational approximation, relative error 1e-9).
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double lo = 0.02425;
  if (p < lo) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normal_quantile(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

}  // namespace

std::vector<double> strip_entropy(const Model& model, const torch::Tensor& inputs,
                                  const torch::Tensor& pool, const StripOptions& o,
                                  bool skip_self) {
  ADVTK_CHECK(pool.size(0) >= 2, "strip: needs at least 2 clean images to superimpose");
  ADVTK_CHECK(o.copies >= 1, "strip: expected at least one copy");
  std::vector<double> out;
  const int64_t n = pool.size(0);
  for (int64_t i = 0; i < inputs.size(0); ++i) {
    torch::Generator gen = make_generator(mix_seed(o.seed, 0x5781), i);
    torch::Tensor pick = torch::randint(0, skip_self ? n - 1 : n, {o.copies}, gen);
    if (skip_self) pick = pick + (pick >= i).to(torch::kLong);  // every index but i
    const torch::Tensor copies = (inputs[i].unsqueeze(0) + pool.index_select(0, pick)).clamp(0, 1);
    const torch::Tensor logits = batched_logits(model, model.from_unit_range(copies), o.batch_size);
    const torch::Tensor p = torch::softmax(logits.to(torch::kDouble), 1);
    const torch::Tensor h = -(p * torch::log2(p.clamp_min(1e-300))).sum(1);
    out.push_back(h.mean().item<double>());
  }
  return out;
}

StripReport strip_screen(const Model& model, const torch::Tensor& clean,
                         const torch::Tensor& inputs, const StripOptions& o) {
  ADVTK_CHECK(o.false_rejection > 0 && o.false_rejection < 1,
              "--strip-frr: expected a fraction in (0, 1), got ", o.false_rejection);
  StripReport r;
  const std::vector<double> base = strip_entropy(model, clean, clean, o, /*skip_self=*/true);
  const torch::Tensor b = torch::tensor(base, torch::kDouble);
  r.clean_mean = b.mean().item<double>();
  r.clean_std = b.numel() > 1 ? b.std().item<double>() : 0.0;
  r.threshold = r.clean_mean + r.clean_std * normal_quantile(o.false_rejection);
  r.clean_flagged = (b < r.threshold).to(torch::kDouble).mean().item<double>();
  r.entropy = strip_entropy(model, inputs, clean, o, /*skip_self=*/false);
  for (size_t i = 0; i < r.entropy.size(); ++i)
    if (r.entropy[i] < r.threshold) r.flagged.push_back(static_cast<int64_t>(i));
  return r;
}

}  // namespace advtk
