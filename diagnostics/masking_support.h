// The measuring tools of the masking detector: attacks run on the points (breaks re-judged by
// majority vote), input gradients per loss.
#pragma once

#include <functional>
#include <memory>

#include "attacks/attack.h"
#include "attacks/losses.h"
#include "data/dataset.h"
#include "distributed/process_group.h"
#include "eval/batched.h"
#include "models/model.h"

namespace advtk {

struct Outcome {
  torch::Tensor broken;  // [N] bool, CPU: the returned point is misclassified (majority vote)
  torch::Tensor x_adv;   // [N, ...] CPU
  // [N] bool, CPU: the attack's own verdict — some iterate was adversarial in the pass that
  // judged it. On a deterministic model it equals `broken`; where it does not, the point the
  // attack returned is not the adversarial iterate it saw (randomness, or a lost best iterate).
  torch::Tensor claimed;
  double seconds = 0;
};

using MakeAttack = std::function<std::unique_ptr<Attack>(double eps)>;

// Runs the attack at budget `eps` on every point and re-checks its points by majority vote,
// so a lucky random pass of a randomised model is not counted as a break. `group`: the ranks that
// share its batches (attack_runner.h), null for one process.
Outcome attack_points(const Model& model, const Dataset& points, const MakeAttack& make, double eps,
                      int64_t passes, int64_t batch_size, uint64_t seed,
                      const ProcessGroup* group = nullptr);

// Input gradients [N, D] (CPU) of the per-example loss at x (one pass), and the loss values.
struct Gradients {
  torch::Tensor grad;  // [N, D]
  torch::Tensor loss;  // [N]
};
Gradients input_gradients(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                          LossKind loss, int64_t batch_size);

// Row-wise cosine similarity of [N, D] tensors; 0 where either row is zero.
torch::Tensor row_cosine(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace advtk
