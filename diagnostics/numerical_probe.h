// Numerical exploitation: how the model behaves on inputs nobody trained it for (constant images,
// pixels far out of range, NaN/Inf pixels, tiny noise) and how large its input gradients get.
// An attacker who can feed such inputs, or whose gradients explode, has an easier job than the
// robust-accuracy figures suggest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "models/model.h"

namespace advtk {

struct NumericalOptions {
  int64_t examples = 200;  // the first examples of the data
  int64_t batch_size = 250;
  double tiny_noise = 1e-4;     // uniform noise of this size, relative to the input range
  double explode_factor = 100;  // a gradient norm this many times the median counts as exploding
  uint64_t seed = 0;
};

struct ExtremeProbe {
  std::string id;           // "all-lo", "nan-pixel", ...
  std::string description;  // what the input is
  bool finite_input = true;
  int64_t inputs = 0;
  int64_t nonfinite_outputs = 0;  // rows with a NaN or Inf logit
  int64_t prediction_flips = 0;   // rows whose prediction differs from the clean one (-1: n/a)
  double max_abs_logit = 0.0;     // over the finite rows
  std::vector<int64_t> predicted_classes;  // constant inputs: the class each is assigned
  bool flagged = false;
  std::string finding;  // one line when flagged
};

struct GradientFigures {
  int64_t examples = 0;
  double median_l2 = 0.0, max_l2 = 0.0;  // per-example L2 norm of ∂CE/∂x
  double fraction_zero = 0.0;            // norm < 1e-12
  // Exploding is judged on the margin's gradient ∇(max_{j≠y} z_j − z_y), which does not vanish
  // as the softmax saturates: a CE gradient 100× its median is only a less confident example.
  double margin_median_l2 = 0.0, margin_max_l2 = 0.0;
  double fraction_exploding = 0.0;  // margin gradient finite and > explode_factor × its median
  double fraction_nonfinite = 0.0;
};

struct NumericalReport {
  std::vector<ExtremeProbe> probes;
  GradientFigures gradient;
  bool nonfinite_parameters = false;
  std::vector<std::string> flags;  // one line per finding; empty when nothing is wrong
  double seconds = 0.0;
};

NumericalReport probe_numerics(const Model& model, const Dataset& data,
                               const NumericalOptions& options);

nlohmann::json to_json(const NumericalReport& report);

}  // namespace advtk
