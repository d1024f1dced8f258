// The twelve indicators of the masking detector, each a function of what was measured.
// Thresholds and where they come from are documented next to each (and in the README).
#pragma once

#include <string>
#include <vector>

#include "defenses/masking.h"
#include "defenses/masking_support.h"

namespace advtk {

// What the indicators share: the model, the points, and attack results computed once.
struct MaskingContext {
  const Model* model = nullptr;
  MaskingOptions options;
  Dataset points;       // clean-correct
  Dataset expensive;    // the first options.expensive_points of them
  int64_t passes = 1;   // majority-vote passes (1 on deterministic models)
  int64_t classes = 0;  // the model's output width
  torch::Tensor x, y;   // points in the model's input range / labels (CPU)
};

Indicator check_broken_graph(const MaskingContext& c);
Indicator check_zero_gradients(const MaskingContext& c);
Indicator check_probability_output(const MaskingContext& c);
// Also decides c.passes for everything after it; `eot_samples` gets its estimate.
Indicator check_randomness(MaskingContext& c, int64_t& eot_samples);
Indicator check_shattered_gradients(const MaskingContext& c);
Indicator check_unstable_predictions(const MaskingContext& c);
// Attack comparisons: broken flags [N] over the points (or the expensive subset).
Indicator check_one_step_beats_iterative(const MaskingContext& c, const torch::Tensor& fgsm,
                                         const torch::Tensor& iterative);
Indicator check_black_box_beats_white_box(const MaskingContext& c, const torch::Tensor& black_box,
                                          const torch::Tensor& white_box,
                                          const std::string& black_box_name);
Indicator check_unbounded_attack(const MaskingContext& c);
Indicator check_budget_growth(const MaskingContext& c);
Indicator check_noise_beats_attacks(const MaskingContext& c, const torch::Tensor& all_attacks);
Indicator check_optimisation_health(const MaskingContext& c, const torch::Tensor& pgd);

// The PGD every check and retry runs (L1-APGD for L1): the threat model at budget `eps`, the
// options' seed.
// APGD at `eps` in the check's threat model (targeted: APGD-T over its default targets).
std::unique_ptr<Attack> masking_apgd(const MaskingContext& c, double eps, LossKind loss,
                                     bool targeted, int64_t steps, int64_t restarts, int64_t eot);

std::unique_ptr<Attack> masking_pgd(const MaskingContext& c, double eps, LossKind loss,
                                    int64_t steps, int64_t restarts = 1, int64_t eot = 1);

// Dataset ids of the points where `mask` [N] holds, at most 50.
std::vector<int64_t> example_ids_where(const Dataset& points, const torch::Tensor& mask);

}  // namespace advtk
