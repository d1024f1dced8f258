// The attack interface: a batch in, per-example adversarial examples and bookkeeping out.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "attacks/threat_model.h"
#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct AttackBatch {
  torch::Tensor x;       // [N, C, H, W] in the model's input range, on the model's device
  torch::Tensor y;       // [N] true labels, on the model's device
  torch::Tensor target;  // [N] target classes on the device, or undefined (untargeted)
  torch::Tensor index;   // [N] int64 on the CPU: global example indices, for per-example seeds
  torch::Tensor reference_logits;  // [N, K] clean logits for the kl loss, or undefined
  // [N] the prediction at x from the caller's clean pass (the runner's), or undefined: an attack
  // that may never evaluate x itself (a random start) starts from it instead of a pass of its own
  // (not with EOT: one pass of a randomised model does not decide).
  torch::Tensor clean_pred;
};

struct AttackResult {
  torch::Tensor x_adv;           // [N, C, H, W]
  torch::Tensor success;         // [N] bool: misclassified (untargeted) / target reached
  torch::Tensor pred;            // [N] int64: the model's prediction on x_adv
  torch::Tensor distance;        // [N] ||x_adv - x|| in the attack's norm
  torch::Tensor forward_calls;   // [N] int64: forward passes each example took part in
  torch::Tensor backward_calls;  // [N] int64: input-gradient computations likewise
  torch::Tensor broken_by;       // ensembles: [N] int64, the attack that broke it (-1: none)
  // [N] bool: what the attack itself saw as adversarial, before confirm_result judged the
  // returned points again; undefined until then.
  torch::Tensor claimed;
};

class Attack {
 public:
  virtual ~Attack() = default;
  // Never changes the model. Results are on the model's device.
  virtual AttackResult run(const Model& model, const AttackBatch& batch) = 0;
  virtual std::string name() const = 0;
  virtual Norm norm() const = 0;
  // Minimum-norm attacks (CW, DeepFool) have no budget: they report the smallest perturbation.
  virtual bool minimum_norm() const { return false; }
  // The budget ε its points must stay within; +inf for minimum-norm attacks.
  virtual double budget() const = 0;
  // What it runs with, derived values included (step sizes, schedules).
  virtual nlohmann::json parameters() const = 0;

  // The declared options it was made with (make_attack records them from the attack's
  // declaration; null when made directly, as presets make their members).
  void set_declared_options(nlohmann::json options) { declared_options_ = std::move(options); }
  // parameters() plus the declared options as "options" (when any): what summary.json and
  // report.json record.
  nlohmann::json description() const;

 private:
  nlohmann::json declared_options_;
};

// Whether logits make each example adversarial: prediction != label, or == target if targeted.
torch::Tensor is_adversarial(const torch::Tensor& logits, const AttackBatch& batch);
torch::Tensor is_adversarial_pred(const torch::Tensor& pred, const torch::Tensor& y,
                                  const torch::Tensor& target);

// Per-example generators for the examples of `index` (global ids), stream `stream` (e.g. the
// restart): the same example gets the same noise whatever batch it is in.
std::vector<torch::Generator> example_generators(uint64_t seed, const torch::Tensor& index,
                                                 uint64_t stream);

// The random streams of each attack family are disjoint, so two attacks run with one seed on one
// example (PGD and APGD in a suite, the masking check's PGD and its noise draws) never start
// from the same draws. APGD keeps 0-2 (its CE, DLR and targeted runs).
enum class StreamFamily : uint64_t {
  ApgdCe = 0,
  ApgdDlr = 1,
  ApgdTargeted = 2,
  Pgd = 3,
  Square = 4,
  Noise = 5,
  Fab = 6
};
// Stream k of a family: (family << 40) + k.
uint64_t family_stream(StreamFamily family, uint64_t k);

// Standard normal noise shaped like `like` [N, ...] (its device and dtype), row i drawn from
// generators[i].
torch::Tensor example_gaussian(std::vector<torch::Generator>& generators,
                               const torch::Tensor& like);

// Per-example row selection, shared by every attack's bookkeeping:
// where_rows picks a's rows where mask [N] holds and b's elsewhere (any trailing shape);
// update_rows writes `value` into rows `idx` of `dst` where `mask` holds;
// select_examples keeps the examples at `rows` (device indices) of a batch.
torch::Tensor where_rows(const torch::Tensor& mask, const torch::Tensor& a, const torch::Tensor& b);
void update_rows(torch::Tensor& dst, const torch::Tensor& idx, const torch::Tensor& mask,
                 const torch::Tensor& value);
AttackBatch select_examples(const AttackBatch& batch, const torch::Tensor& rows);

// One fresh forward pass (no gradients) on x: the predictions, and which rows are adversarial.
struct Judgement {
  torch::Tensor pred, adversarial;
};
Judgement judge_points(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                       const torch::Tensor& target);

// Judges an attack's returned points again, as the reference AutoAttack does after each attack:
// success (and pred) come from one fresh forward pass on the whole batch, and points further
// than `eps` from x (+ rounding) never count. The attack's own verdict moves to `claimed`. So a
// point seen adversarial only inside the attack (another batch composition, one draw of a
// randomised model) is not reported as broken. No-op once `claimed` is set.
void confirm_result(const Model& model, const AttackBatch& batch, Norm norm, double eps,
                    AttackResult& result);

// Creates an empty result for a batch (x_adv = x, nothing found yet, counters at zero).
AttackResult initial_result(const AttackBatch& batch);

}  // namespace advtk
