#include "poisoning/activation_clustering.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/seeding.h"

namespace advtk {
namespace {

// Squared distances of every point to each of the centres: [N, K].
torch::Tensor squared_distances(const torch::Tensor& points, const torch::Tensor& centres) {
  return (points.unsqueeze(1) - centres.unsqueeze(0)).square().sum(2);
}

}  // namespace

torch::Tensor two_means(const torch::Tensor& x, int64_t restarts, int64_t iterations,
                        torch::Generator& gen) {
  const int64_t n = x.size(0);
  ADVTK_CHECK(n >= 2, "2-means: expected at least 2 points");
  torch::Tensor best;
  double best_inertia = std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < std::max<int64_t>(restarts, 1); ++r) {
    // k-means++: the second centre drawn with probability proportional to the squared distance.
    const int64_t first = torch::randint(0, n, {1}, gen).item<int64_t>();
    const torch::Tensor d0 = (x - x[first]).square().sum(1);
    const int64_t second =
        d0.sum().item<double>() > 0
            ? torch::multinomial(d0.to(torch::kFloat), 1, false, gen).item<int64_t>()
            : (first + 1) % n;
    torch::Tensor centres = torch::stack({x[first], x[second]});
    torch::Tensor assign;
    for (int64_t it = 0; it < iterations; ++it) {
      const torch::Tensor next = squared_distances(x, centres).argmin(1);
      if (assign.defined() && torch::equal(next, assign)) break;
      assign = next;
      for (int64_t k = 0; k < 2; ++k) {
        const torch::Tensor members = assign == k;
        if (members.any().item<bool>()) centres[k] = x.index({members}).mean(0);
      }
    }
    const double inertia = std::get<0>(squared_distances(x, centres).min(1)).sum().item<double>();
    if (inertia < best_inertia) {
      best_inertia = inertia;
      best = assign;
    }
  }
  return best;
}

double silhouette_score(const torch::Tensor& x, const torch::Tensor& a) {
  const torch::Tensor d = torch::cdist(x, x);
  const int64_t n = x.size(0);
  const torch::Tensor same = a.unsqueeze(0) == a.unsqueeze(1);
  const torch::Tensor same_count = same.sum(1).to(torch::kDouble) - 1;  // without the point itself
  const torch::Tensor other_count = n - same_count - 1;
  const torch::Tensor in = (d * same).sum(1) / same_count.clamp_min(1);
  const torch::Tensor out = (d * same.logical_not()).sum(1) / other_count.clamp_min(1);
  torch::Tensor s = (out - in) / torch::max(in, out).clamp_min(1e-12);
  // A point alone in its cluster, or a single cluster, scores 0 (Rousseeuw's convention).
  s = torch::where((same_count > 0) & (other_count > 0), s, torch::zeros_like(s));
  return s.mean().item<double>();
}

ActivationClusteringReport activation_clustering(const FeatureSet& set,
                                                 const ActivationClusteringOptions& o) {
  check_feature_set(set);
  ADVTK_CHECK(o.dims >= 1, "activation clustering: expected at least 1 dimension");
  const torch::Tensor f = set.features.to(torch::kDouble);
  const torch::Tensor ref = set.reference_features.to(torch::kDouble);
  const auto rows = rows_by_class(set.labels, set.classes);
  const auto ref_rows = rows_by_class(set.reference_labels, set.classes);
  ActivationClusteringReport r;
  for (int64_t c = 0; c < set.classes; ++c) {
    ClusterClass k;
    k.examples = rows[c].numel();
    k.reference = ref_rows[c].numel();
    if (k.examples < 4) {
      r.classes.push_back(k);
      continue;
    }
    torch::Generator gen = make_generator(o.seed, 0xAC00 + static_cast<uint64_t>(c));
    const torch::Tensor fc = f.index_select(0, rows[c]);
    const torch::Tensor mu = fc.mean(0);
    const torch::Tensor vh = std::get<2>(torch::linalg_svd(fc - mu, /*full_matrices=*/false));
    const torch::Tensor z = (fc - mu).matmul(vh.narrow(0, 0, std::min(o.dims, vh.size(0))).t());
    const torch::Tensor a = two_means(z, o.restarts, o.iterations, gen);
    for (int64_t j = 0; j < 2; ++j) k.sizes[j] = (a == j).sum().item<int64_t>();
    k.relative_size = static_cast<double>(std::min(k.sizes[0], k.sizes[1])) / k.examples;
    const int64_t sample = std::min(o.silhouette_sample, k.examples);
    const torch::Tensor pick = torch::randperm(k.examples, gen).narrow(0, 0, sample);
    k.silhouette = silhouette_score(z.index_select(0, pick), a.index_select(0, pick));
    if (k.reference >= kMinReferencePerClass) {
      const torch::Tensor rc = ref.index_select(0, ref_rows[c]);
      const torch::Tensor centre = rc.mean(0);
      const double radius = (rc - centre).square().sum(1).mean().sqrt().item<double>();
      k.decided = radius > 0;
      double worst = 1.0;
      for (int64_t j = 0; j < 2 && k.decided; ++j) {
        if (k.sizes[j] == 0) continue;
        const double q = static_cast<double>(k.sizes[j]) / k.examples;
        k.distance[j] = (fc.index({a == j}).mean(0) - centre).norm().item<double>() / radius;
        k.bound[j] = std::sqrt((1 - q) / q) + 2 / std::sqrt(static_cast<double>(k.reference));
        // Both beyond their bounds (the class as a whole unlike the reference): the further one.
        if (k.distance[j] / k.bound[j] > worst) {
          worst = k.distance[j] / k.bound[j];
          k.flagged_cluster = j;
        }
      }
      if (k.flagged_cluster >= 0) {
        const torch::Tensor ids =
            rows[c].index_select(0, torch::nonzero(a == k.flagged_cluster).flatten());
        for (int64_t i = 0; i < ids.numel(); ++i) r.flagged.push_back(ids[i].item<int64_t>());
      }
    }
    r.classes.push_back(k);
  }
  std::sort(r.flagged.begin(), r.flagged.end());
  return r;
}

}  // namespace advtk
