// Is a backdoor planted in this model or its training data? Neural Cleanse on clean inputs and,
// given the training set, the three training-data detectors on the model's features — one
// document and the verdict rule that advtk backdoor and the audit's training-security stage
// both apply: `backdoor` when Neural Cleanse flags a class or a detector finds a poisoned group
// in a class (each section says by which rule), else `no-evidence`.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/model.h"
#include "poisoning/neural_cleanse.h"
#include "poisoning/training_data_scan.h"

namespace advtk {

struct BackdoorScanOptions {
  NeuralCleanseOptions neural_cleanse;
  TrainingDataScanOptions training_data;
  std::string feature_layer;  // empty: the input of the last linear layer
  int64_t batch_size = 128;   // feature extraction
};

struct BackdoorScan {
  NeuralCleanseReport neural_cleanse;
  // verdict, target_class, rule, neural_cleanse; with the training set also spectral,
  // activation_clustering, deep_knn, suspicious_index (example ids) and training_data.
  nlohmann::json json;
  bool found = false;
  int64_t target = -1;  // Neural Cleanse's flagged class with the smallest mask, else the first
                        // class a training-data detector found
};

// phase: "neural cleanse" (done of steps) or "features" (done of 1).
using BackdoorScanProgress = std::function<void(const std::string& phase, int64_t, int64_t)>;

// clean: labelled clean inputs (Neural Cleanse stamps them; the data detectors' reference).
// train: the training set to scan, or null; poisoned_ids: its known poisoned ids (tpr/fpr), or
// null.
BackdoorScan scan_for_backdoor(const Model& model, int64_t classes, const Dataset& clean,
                               const Dataset* train, const std::vector<int64_t>* poisoned_ids,
                               const BackdoorScanOptions& options,
                               const BackdoorScanProgress& progress = {});

}  // namespace advtk
