// Spectral signatures (Tran, Li & Madry 2018, "Spectral Signatures in Backdoor Attacks"): within
// a class, poisoned examples shift the features along the top singular vector v of the centred
// feature matrix; the paper's outlier score of an example is its squared projection on v, and it
// removes the 1.5·ε highest-scoring examples of every class — a fixed share even of clean
// classes (ART's spectral defense removing clean data is that failure).
//
// advtk decides per class first, against the clean reference: the reference inputs of the class
// projected on the same v give the class's natural spread along it (mean m, standard deviation
// s, taken at its 97.5% upper confidence bound since the reference is small). An example lies
// outside when |projection − m| > (k + 2/√M)·s (k = 3, M the class's reference inputs: two
// standard errors of m); by Chebyshev's inequality a class drawn from the reference's
// distribution has at most 1/k² of its examples beyond k·s, so a class with a larger outside
// share holds a foreign group and its outside examples are flagged. A poisoned
// group half the size of its class (10% BadNets into one of ten classes) sits entirely on one side
// — the signed projection catches it where the squared score cannot.
#pragma once

#include <cstdint>
#include <vector>

#include "poisoning/class_groups.h"

namespace advtk {

struct SpectralOptions {
  double sigmas = 3.0;  // k: an example lies outside beyond k reference standard deviations
};

struct SpectralClass {
  int64_t examples = 0, reference = 0;
  double singular_value_ratio = 0;  // σ1/σ2 of the centred features: how dominant v is
  double outside_share = 0;         // of the class's examples, beyond k·s along v
  bool decided = false;             // false: too few examples or reference inputs
  bool flagged = false;
};

struct SpectralReport {
  std::vector<SpectralClass> classes;
  torch::Tensor score;           // [N] the paper's outlier score (squared projection), float
  std::vector<int64_t> flagged;  // rows of the training set
  double outside_limit = 0;      // 1/k²
};

SpectralReport spectral_signatures(const FeatureSet& set, const SpectralOptions& options = {});

}  // namespace advtk
