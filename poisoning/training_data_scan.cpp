#include "poisoning/training_data_scan.h"

#include <algorithm>
#include <chrono>
#include <set>

namespace advtk {
namespace {

std::vector<int64_t> ids_of(const std::vector<int64_t>& rows, const torch::Tensor& example_ids) {
  const torch::Tensor ids = example_ids.to(torch::kLong).cpu().contiguous();
  const int64_t* p = ids.data_ptr<int64_t>();
  std::vector<int64_t> out;
  out.reserve(rows.size());
  for (int64_t r : rows) out.push_back(p[r]);
  return out;
}

void add_rates(nlohmann::json& j, const std::vector<int64_t>& flagged,
               const std::vector<int64_t>* poisoned, int64_t n) {
  if (!poisoned) return;
  const DetectionRates d = detection_rates(flagged, *poisoned, n);
  j["tpr"] = d.tpr;
  j["fpr"] = d.fpr;
}

}  // namespace

TrainingDataScan scan_training_data(const FeatureSet& set, const TrainingDataScanOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  TrainingDataScan s;
  s.spectral = spectral_signatures(set, o.spectral);
  s.clustering = activation_clustering(set, o.clustering);
  s.knn = deep_knn(set, o.knn);
  std::set<int64_t> rows(s.spectral.flagged.begin(), s.spectral.flagged.end());
  rows.insert(s.clustering.flagged.begin(), s.clustering.flagged.end());
  rows.insert(s.knn.flagged.begin(), s.knn.flagged.end());
  s.suspicious.assign(rows.begin(), rows.end());
  for (int64_t c = 0; c < set.classes; ++c)
    if (s.spectral.classes[c].flagged || s.clustering.classes[c].flagged_cluster >= 0 ||
        s.knn.classes[c].flagged)
      s.poisoned_classes.push_back(c);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

DetectionRates detection_rates(const std::vector<int64_t>& flagged,
                               const std::vector<int64_t>& poisoned, int64_t n) {
  const std::set<int64_t> truth(poisoned.begin(), poisoned.end());
  int64_t hits = 0;
  for (int64_t f : flagged) hits += truth.count(f);
  const auto negatives = static_cast<double>(n - static_cast<int64_t>(truth.size()));
  DetectionRates d;
  d.tpr = truth.empty() ? 0.0 : static_cast<double>(hits) / truth.size();
  d.fpr = negatives > 0 ? static_cast<double>(flagged.size() - hits) / negatives : 0.0;
  return d;
}

nlohmann::json scan_json(const TrainingDataScan& s, const torch::Tensor& example_ids,
                         const std::vector<int64_t>* poisoned) {
  const int64_t n = example_ids.size(0);
  std::vector<int64_t> poisoned_rows;  // the truth as rows, matched through the ids
  if (poisoned) {
    const std::set<int64_t> truth(poisoned->begin(), poisoned->end());
    const torch::Tensor ids = example_ids.to(torch::kLong).cpu().contiguous();
    for (int64_t r = 0; r < n; ++r)
      if (truth.count(ids.data_ptr<int64_t>()[r])) poisoned_rows.push_back(r);
  }
  const std::vector<int64_t>* truth = poisoned ? &poisoned_rows : nullptr;
  nlohmann::json spectral = nlohmann::json::array(), clusters = nlohmann::json::array(),
                 knn = nlohmann::json::array();
  for (size_t c = 0; c < s.spectral.classes.size(); ++c) {
    const SpectralClass& k = s.spectral.classes[c];
    spectral.push_back({{"class", c},
                        {"examples", k.examples},
                        {"reference", k.reference},
                        {"singular_value_ratio", k.singular_value_ratio},
                        {"outside_share", k.outside_share},
                        {"decided", k.decided},
                        {"flagged", k.flagged}});
    const ClusterClass& a = s.clustering.classes[c];
    clusters.push_back({{"class", c},
                        {"examples", a.examples},
                        {"reference", a.reference},
                        {"cluster_sizes", a.sizes},
                        {"silhouette", a.silhouette},
                        {"relative_size", a.relative_size},
                        {"distance_to_reference", a.distance},
                        {"legitimate_bound", a.bound},
                        {"decided", a.decided},
                        {"flagged_cluster", a.flagged_cluster}});
    const KnnClass& d = s.knn.classes[c];
    knn.push_back({{"class", c},
                   {"examples", d.examples},
                   {"reference", d.reference},
                   {"disagreeing_share", d.disagreeing_share},
                   {"contradicted_share", d.contradicted_share},
                   {"reference_contradicted_share", d.reference_contradicted_share},
                   {"foreign_share", d.foreign_share},
                   {"z", d.z},
                   {"decided", d.decided},
                   {"flagged", d.flagged}});
  }
  nlohmann::json j;
  j["spectral"] = {{"rule",
                    "per class: examples beyond 3 reference standard deviations along the top "
                    "singular vector; the class is flagged when more than 1/9 of it lies there "
                    "(Chebyshev's bound for a class drawn like its reference)"},
                   {"classes", spectral},
                   {"flagged", ids_of(s.spectral.flagged, example_ids)}};
  add_rates(j["spectral"], s.spectral.flagged, truth, n);
  j["activation_clustering"] = {
      {"rule",
       "per class: 2-means on a 10-d PCA projection; a cluster with share q is flagged when its "
       "mean lies further from the clean reference's class mean than sqrt((1-q)/q) + 2/sqrt(m) "
       "reference RMS radii (no subset of the reference's distribution can); silhouette and "
       "relative size are reported, not used"},
      {"classes", clusters},
      {"flagged", ids_of(s.clustering.flagged, example_ids)}};
  add_rates(j["activation_clustering"], s.clustering.flagged, truth, n);
  j["deep_knn"] = {
      {"rule",
       "per class: the share of examples whose own label holds under a fifth of their k nearest "
       "training neighbours, against the reference's; flagged when z > 4 and the estimated "
       "foreign share > 10%; then the examples whose label is not their neighbours' plurality"},
      {"k", s.knn.k},
      {"classes", knn},
      {"flagged", ids_of(s.knn.flagged, example_ids)}};
  add_rates(j["deep_knn"], s.knn.flagged, truth, n);
  j["suspicious_index"] = ids_of(s.suspicious, example_ids);
  j["poisoned_classes"] = s.poisoned_classes;
  j["seconds"] = s.seconds;
  return j;
}

}  // namespace advtk
