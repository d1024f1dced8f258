// Deep k-NN (Peri, Gupta, Huang, Fowl, Zhu, Feizi, Goldstein & Dickerson 2020, "Deep k-NN
// Defense against Clean-label Data Poisoning Attacks"): an example whose label disagrees with the
// plurality label of its k nearest training neighbours in feature space is removed as poison.
// It finds flipped labels: a sneaker labelled "T-shirt" sits among sneakers.
//
// Natural confusion disagrees too (on Fashion-MNIST about half of all shirts have a plurality of
// T-shirts, pullovers or coats around them), so advtk decides per class first, against the clean
// reference: an example is contradicted when its own label holds under a fifth of its k
// neighbours (a flipped label is nearly alone among its source class; an ambiguous one is not),
// and a class is poisoned when its contradicted share exceeds the reference inputs' share for the
// class (the same k-NN over the training set) both clearly (two-proportion z above 4) and by much
// (an estimated foreign share above 10%). In a poisoned class, the examples Peri et al.'s
// plurality rule rejects are flagged.
#pragma once

#include <cstdint>
#include <vector>

#include "poisoning/class_groups.h"

namespace advtk {

struct DeepKnnOptions {
  int64_t k = 50;
  double contradicted_below = 0.2;  // own label's share among the neighbours
  double min_z = 4.0;
  double min_foreign_share = 0.1;
  int64_t chunk = 512;  // rows per distance block
};

struct KnnClass {
  int64_t examples = 0, reference = 0;
  double disagreeing_share = 0;   // plurality label ≠ own (the paper's rule)
  double contradicted_share = 0;  // own label under contradicted_below
  double reference_contradicted_share = 0;
  double foreign_share = 0;  // (t − r) / (1 − r)
  double z = 0;
  bool decided = false;
  bool flagged = false;
};

struct DeepKnnReport {
  std::vector<KnnClass> classes;
  std::vector<int64_t> flagged;  // rows of the training set
  int64_t k = 0;                 // the neighbours used: k, or N − 1 for a smaller set
};

DeepKnnReport deep_knn(const FeatureSet& set, const DeepKnnOptions& options = {});

}  // namespace advtk
