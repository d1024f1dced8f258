// The sanity checks the reference AutoAttack runs around its evaluation (Croce & Hein 2020,
// `autoattack/checks.py`): a randomised model, probability outputs, a model whose output for
// one example depends on the rest of its batch (dynamic: batch statistics, an input-dependent
// defense), zero input gradients, too few classes for the targeted attacks, and Square breaking
// points the white-box attacks left robust. Each is a warning with its figure; none stops a run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "models/model.h"

namespace advtk {

struct SanityCheck {
  std::string id;  // "randomness", "probability-output", "dynamic", "zero-gradients", "classes",
                   // "square-beats-white-box"
  bool warning = false;
  std::string message;  // what was measured, and what to do when it warns
};

// The checks that need only the model and (at most 100 of) the examples.
std::vector<SanityCheck> autoattack_checks(const Model& model, const Dataset& data,
                                           int64_t batch_size);

// Square broke `square_broken` examples that every white-box attack before it left robust.
SanityCheck square_check(int64_t square_broken, int64_t attacked);

nlohmann::json to_json(const std::vector<SanityCheck>& checks);

}  // namespace advtk
