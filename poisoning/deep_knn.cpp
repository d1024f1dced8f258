#include "poisoning/deep_knn.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace advtk {
namespace {

struct Neighbourhood {
  torch::Tensor own_share;  // [N] share of the neighbours carrying the query's label
  torch::Tensor disagrees;  // [N] bool: another label has more neighbours than the own one
};

// For each query, its k nearest training examples (itself excluded when the queries are the
// training set, `self_offset` giving the query rows' position in it).
Neighbourhood neighbourhood(const torch::Tensor& queries, const torch::Tensor& query_labels,
                            const torch::Tensor& train, const torch::Tensor& train_labels,
                            int64_t classes, int64_t k, int64_t chunk, bool self) {
  std::vector<torch::Tensor> own, dis;
  for (int64_t i = 0; i < queries.size(0); i += chunk) {
    const int64_t b = std::min(chunk, queries.size(0) - i);
    torch::Tensor d = torch::cdist(queries.narrow(0, i, b), train);
    if (self) {
      d.narrow(1, i, b).diagonal().fill_(std::numeric_limits<float>::infinity());
    }
    const torch::Tensor nn = std::get<1>(d.topk(k, 1, /*largest=*/false));
    const torch::Tensor counts =
        torch::one_hot(train_labels.index({nn}), classes).sum(1);  // [b, classes]
    const torch::Tensor mine =
        counts.gather(1, query_labels.narrow(0, i, b).unsqueeze(1)).squeeze(1);
    own.push_back(mine.to(torch::kDouble) / k);
    dis.push_back(mine < std::get<0>(counts.max(1)));
  }
  return {torch::cat(own), torch::cat(dis)};
}

}  // namespace

DeepKnnReport deep_knn(const FeatureSet& set, const DeepKnnOptions& o) {
  check_feature_set(set);
  ADVTK_CHECK(o.k >= 1, "--knn: expected at least 1 neighbour, got ", o.k);
  ADVTK_CHECK(set.features.size(0) >= 2, "deep k-NN: expected at least 2 training examples");
  // A training set smaller than k + 1: every other example is a neighbour.
  const int64_t k_used = std::min(o.k, set.features.size(0) - 1);
  const torch::Tensor f = set.features.to(torch::kFloat);
  const torch::Tensor y = set.labels.to(torch::kLong);
  const torch::Tensor ry = set.reference_labels.to(torch::kLong);
  const Neighbourhood train = neighbourhood(f, y, f, y, set.classes, k_used, o.chunk, true);
  const Neighbourhood ref = neighbourhood(set.reference_features.to(torch::kFloat), ry, f, y,
                                          set.classes, k_used, o.chunk, false);
  const auto rows = rows_by_class(y, set.classes);
  const auto ref_rows = rows_by_class(ry, set.classes);
  DeepKnnReport r;
  r.k = k_used;
  for (int64_t c = 0; c < set.classes; ++c) {
    KnnClass k;
    k.examples = rows[c].numel();
    k.reference = ref_rows[c].numel();
    if (k.examples > 0) {
      k.disagreeing_share =
          train.disagrees.index_select(0, rows[c]).to(torch::kDouble).mean().item<double>();
      k.contradicted_share = (train.own_share.index_select(0, rows[c]) < o.contradicted_below)
                                 .to(torch::kDouble)
                                 .mean()
                                 .item<double>();
    }
    if (k.examples > 0 && k.reference >= kMinReferencePerClass) {
      const double m = static_cast<double>(k.reference), n = static_cast<double>(k.examples);
      const double hits =
          (ref.own_share.index_select(0, ref_rows[c]) < o.contradicted_below).sum().item<double>();
      k.reference_contradicted_share = hits / m;
      // The reference share smoothed ((hits + 1) / (m + 2)), so that a class none of whose few
      // reference inputs is contradicted does not make any excess look certain.
      const double rs = (hits + 1) / (m + 2), t = k.contradicted_share;
      k.foreign_share = (t - rs) / (1 - rs);
      k.z = (t - rs) / std::sqrt(rs * (1 - rs) / m + t * (1 - t) / n);
      k.decided = true;
      k.flagged = k.z > o.min_z && k.foreign_share > o.min_foreign_share;
      if (k.flagged) {
        const torch::Tensor ids = rows[c].index_select(
            0, torch::nonzero(train.disagrees.index_select(0, rows[c])).flatten());
        for (int64_t i = 0; i < ids.numel(); ++i) r.flagged.push_back(ids[i].item<int64_t>());
      }
    }
    r.classes.push_back(k);
  }
  std::sort(r.flagged.begin(), r.flagged.end());
  return r;
}

}  // namespace advtk
