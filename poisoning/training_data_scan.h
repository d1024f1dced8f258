// The three training-data detectors run on one feature set, their findings joined: the training
// rows any of them flags, the classes found to hold a poisoned group, and — when the truth is
// known (advtk poison's poison_index.npy) — each detector's true and false positive rates.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "poisoning/activation_clustering.h"
#include "poisoning/deep_knn.h"
#include "poisoning/spectral_signatures.h"

namespace advtk {

struct TrainingDataScanOptions {
  SpectralOptions spectral;
  ActivationClusteringOptions clustering;
  DeepKnnOptions knn;
};

struct TrainingDataScan {
  SpectralReport spectral;
  ActivationClusteringReport clustering;
  DeepKnnReport knn;
  std::vector<int64_t> suspicious;        // training rows flagged by any detector, sorted
  std::vector<int64_t> poisoned_classes;  // classes any detector found a poisoned group in
  double seconds = 0;
};

TrainingDataScan scan_training_data(const FeatureSet& set, const TrainingDataScanOptions& options);

// Of `flagged` rows among n: the share of the `poisoned` rows found (TPR) and of the others
// flagged (FPR).
struct DetectionRates {
  double tpr = 0, fpr = 0;
};
DetectionRates detection_rates(const std::vector<int64_t>& flagged,
                               const std::vector<int64_t>& poisoned, int64_t n);

// The scan as backdoor.json's sections (`spectral`, `activation_clustering`, `deep_knn`), rows
// reported as example ids. With `poisoned` rows given, each section gains tpr/fpr.
nlohmann::json scan_json(const TrainingDataScan& scan, const torch::Tensor& example_ids,
                         const std::vector<int64_t>* poisoned);

}  // namespace advtk
