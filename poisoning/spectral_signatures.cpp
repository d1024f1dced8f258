#include "poisoning/spectral_signatures.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace advtk {
namespace {

// sd·sqrt((m − 1) / χ²₀.₀₂₅(m − 1)): a 97.5% upper confidence bound on a normal sample's standard
// deviation from m values (the χ² quantile by Wilson and Hilferty's approximation).
double upper_sd(double sd, int64_t m) {
  const double k = static_cast<double>(m - 1), a = 2.0 / (9.0 * k);
  const double q = k * std::pow(std::max(1.0 - a - 1.959964 * std::sqrt(a), 1e-3), 3.0);
  return sd * std::sqrt(k / q);
}

}  // namespace

SpectralReport spectral_signatures(const FeatureSet& set, const SpectralOptions& o) {
  check_feature_set(set);
  ADVTK_CHECK(o.sigmas > 1, "spectral signatures: expected k > 1 standard deviations");
  const torch::Tensor f = set.features.to(torch::kDouble);
  const torch::Tensor ref = set.reference_features.to(torch::kDouble);
  const auto rows = rows_by_class(set.labels, set.classes);
  const auto ref_rows = rows_by_class(set.reference_labels, set.classes);
  SpectralReport r;
  r.outside_limit = 1.0 / (o.sigmas * o.sigmas);
  r.score = torch::zeros({f.size(0)}, torch::kFloat);
  for (int64_t c = 0; c < set.classes; ++c) {
    SpectralClass k;
    k.examples = rows[c].numel();
    k.reference = ref_rows[c].numel();
    if (k.examples >= 2) {
      const torch::Tensor fc = f.index_select(0, rows[c]);
      const torch::Tensor mu = fc.mean(0);
      const auto svd = torch::linalg_svd(fc - mu, /*full_matrices=*/false);
      const torch::Tensor s = std::get<1>(svd), v = std::get<2>(svd)[0];
      k.singular_value_ratio =
          s.size(0) > 1 && s[1].item<double>() > 0 ? (s[0] / s[1]).item<double>() : 0.0;
      const torch::Tensor proj = (fc - mu).matmul(v);
      r.score.index_copy_(0, rows[c], proj.square().to(torch::kFloat));
      if (k.reference >= kMinReferencePerClass) {
        const torch::Tensor rp = (ref.index_select(0, ref_rows[c]) - mu).matmul(v);
        // The reference's spread is estimated from few inputs: k of its upper-bound standard
        // deviations, plus two standard errors of its mean, so that a small reference does not
        // make a clean class look spread out.
        const double m = rp.mean().item<double>();
        const double sd = upper_sd(rp.std().item<double>(), k.reference);
        const double limit = sd * (o.sigmas + 2.0 / std::sqrt(static_cast<double>(k.reference)));
        const torch::Tensor outside = (proj - m).abs() > limit;
        k.decided = true;
        k.outside_share = outside.to(torch::kDouble).mean().item<double>();
        k.flagged = k.outside_share > r.outside_limit;
        if (k.flagged) {
          const torch::Tensor ids = rows[c].index_select(0, torch::nonzero(outside).flatten());
          for (int64_t i = 0; i < ids.numel(); ++i) r.flagged.push_back(ids[i].item<int64_t>());
        }
      }
    }
    r.classes.push_back(k);
  }
  std::sort(r.flagged.begin(), r.flagged.end());
  return r;
}

}  // namespace advtk
