// The fourteen indicators of the masking detector, each a function of what was measured.
// Thresholds and where they come from are documented next to each (and in the README).
#pragma once

#include <string>
#include <vector>

#include "diagnostics/masking.h"
#include "diagnostics/masking_support.h"

namespace advtk {

// Every point any attack of the check found adversarial at the check's budget (judged on the
// model, by majority vote when it is randomised), with the point found: the per-point worst case
// over the whole check, which the audit takes into its own.
class BreakLog {
 public:
  BreakLog() = default;
  explicit BreakLog(const Dataset& points);
  // `on`: some of the points (by example id); `broken` [on.size()] and `x_adv` over them.
  void add(const Dataset& on, const torch::Tensor& broken, const torch::Tensor& x_adv);
  const torch::Tensor& broken() const { return broken_; }  // [points] bool
  const torch::Tensor& x_adv() const { return x_adv_; }    // [points, ...]: the first break found

 private:
  torch::Tensor ids_, broken_, x_adv_;
};

// What the indicators share: the model, the points, and attack results computed once.
struct MaskingContext {
  const Model* model = nullptr;
  MaskingOptions options;
  Dataset points;              // clean-correct
  Dataset expensive;           // the first options.expensive_points of them
  int64_t passes = 1;          // majority-vote passes (1 on deterministic models)
  int64_t classes = 0;         // the model's output width
  torch::Tensor x, y;          // points in the model's input range / labels (CPU)
  BreakLog* breaks = nullptr;  // where every attack at the check's budget records its breaks
};

// attack_points at the check's budget on `on` (some of its points), its breaks logged.
Outcome attack_at_budget(const MaskingContext& c, const Model& attacked, const Dataset& on,
                         const MakeAttack& make);

Indicator check_broken_graph(const MaskingContext& c);
// The input gradients at the points for the CE, margin and DLR losses (DLR: the margin's when
// there are fewer than 3 classes), computed once for indicators 2 and 13.
struct PointGradients {
  Gradients ce, margin, dlr;
};
PointGradients point_gradients(const MaskingContext& c);

Indicator check_zero_gradients(const MaskingContext& c, const PointGradients& g);
// 13: the logit margin's input gradient explodes (> 100× its median, or not finite) on more than
// 1% of the points: numerical instability that gradient steps cannot use.
Indicator check_exploding_gradients(const MaskingContext& c, const PointGradients& g);
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
// `base`: plain PGD's outcome on c.expensive (its ε point of the curve).
Indicator check_budget_growth(const MaskingContext& c, const Outcome& base);
Indicator check_noise_beats_attacks(const MaskingContext& c, const torch::Tensor& all_attacks);
// `base`: plain PGD's outcome on c.expensive (the baseline, not run again). `gradients_dead`:
// every loss's gradient is zero (nearly) everywhere, so the 4x-steps and restart runs are skipped.
Indicator check_optimisation_health(const MaskingContext& c, const Outcome& base,
                                    bool gradients_dead);
// 14: a changed loss (R1: the margin loss, DLR, targeted DLR) breaks far more of the points
// plain cross-entropy PGD left robust than the other retries: the loss is masked for CE only.
Indicator check_loss_specific(const MaskingContext& c, int64_t broken_by_changed_loss);

// The salts of the check's runs that must start from points of their own (see masking_pgd).
constexpr uint64_t kSaltLonger = 1;          // indicator 12: 4x steps
constexpr uint64_t kSaltRestarts = 2;        // indicator 12: 5 restarts
constexpr uint64_t kSaltMarginRetry = 3;     // R1: margin PGD
constexpr uint64_t kSaltLadderRestarts = 5;  // R5: 4x steps and 5 restarts

// The attacks every check and retry runs, at budget `eps` in the check's threat model. `salt`
// 0 draws the random starts from the options' seed; another salt from a seed mixed with it, so a
// check that must not repeat the baseline's start (more restarts) does not.
// APGD (targeted: APGD-T over its default targets; L1: AutoAttack's 3ε/2ε/ε schedule).
std::unique_ptr<Attack> masking_apgd(const MaskingOptions& o, double eps, LossKind loss,
                                     bool targeted, int64_t steps, int64_t restarts, int64_t eot,
                                     uint64_t salt = 0);
// PGD (L1-APGD for L1).
std::unique_ptr<Attack> masking_pgd(const MaskingOptions& o, double eps, LossKind loss,
                                    int64_t steps, int64_t restarts = 1, int64_t eot = 1,
                                    uint64_t salt = 0);
// The PGD a transfer attack crafts with: every step raises the surrogate's loss (no early stop at
// the first point that fools the surrogate, which is then barely across its boundary).
std::unique_ptr<Attack> masking_transfer_pgd(const MaskingOptions& o, double eps);

// Dataset ids of the points where `mask` [N] holds, at most 50.
std::vector<int64_t> example_ids_where(const Dataset& points, const torch::Tensor& mask);

}  // namespace advtk
