// Clean evaluation: accuracy, per-class accuracy, confusion matrix and mean cross-entropy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"
#include "distributed/process_group.h"
#include "models/model.h"

namespace advtk {

struct EvaluationResult {
  int64_t examples = 0;
  int64_t passes = 1;   // forward passes per example (a randomised model: more than one)
  int64_t correct = 0;  // examples correct in more than half of the passes
  // Correct predictions over examples × passes: with one pass the accuracy, with more the
  // expected accuracy of one pass of a randomised model.
  double accuracy = 0.0;
  double majority_accuracy = 0.0;          // correct / examples
  double mean_loss = 0.0;                  // cross-entropy, over examples × passes
  std::vector<double> per_class_accuracy;  // expected, per class; NaN for classes with no examples
  torch::Tensor confusion;    // [K, K] int64 over every pass: row = true label, column = prediction
                              // (a pass whose logits hold a NaN predicts no class: not in it)
  torch::Tensor predictions;  // [N] int64: the most frequent prediction over the passes
  torch::Tensor majority_correct;  // [N] bool: correct in more than half of the passes
  int64_t nonfinite = 0;           // examples whose logits hold a NaN or an infinity (in any pass)
};

// Called after each batch with (examples done, total).
using BatchProgress = std::function<void(int64_t, int64_t)>;

// Runs the model over `data` in batches without gradients, `passes` times (odd, for a majority).
// `num_classes` sizes the confusion matrix (0: the model's output width). `group`: ranks that
// share the batches (each its contiguous share), every rank ending with the whole result.
EvaluationResult evaluate(const Model& model, const Dataset& data, int64_t batch_size,
                          int64_t num_classes = 0, const BatchProgress& progress = {},
                          int64_t passes = 1, const ProcessGroup* group = nullptr);

// Examples whose logits hold a NaN or an infinity (one pass without gradients), and the one
// warning eval, attack and masking print for them (the audit's numerical probe counts the same).
int64_t count_nonfinite_outputs(const Model& model, const Dataset& data, int64_t batch_size);
std::string nonfinite_outputs_warning(int64_t nonfinite, int64_t examples);

// Two passes of a deterministic model agree to float noise: logits differing by more than this
// fraction of (1 + the largest logit) mark a randomised one. outputs_vary decides with it before
// any point is chosen; the masking check's indicator 4 measures the same on its points.
constexpr double kRandomOutputTolerance = 1e-5;

// Whether two forward passes over the first (at most 100) examples differ beyond float noise
// (kRandomOutputTolerance): a randomised model, whose every verdict must be a majority over
// several passes (Athalye, Engstrom, Ilyas & Kwok 2018).
bool outputs_vary(const Model& model, const Dataset& data, int64_t batch_size);

}  // namespace advtk
