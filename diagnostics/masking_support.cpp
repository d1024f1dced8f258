#include "diagnostics/masking_support.h"

#include <chrono>

#include "attacks/attack_runner.h"
#include "attacks/loss_gradient.h"
#include "core/error.h"

namespace advtk {

Outcome attack_points(const Model& model, const Dataset& points, const MakeAttack& make, double eps,
                      int64_t passes, int64_t batch_size, uint64_t seed,
                      const ProcessGroup* group) {
  const auto started = std::chrono::steady_clock::now();
  AttackRunOptions run;
  run.batch_size = batch_size;
  run.seed = seed;
  // Every point is attacked: on a randomised model a clean pass may misclassify by chance.
  run.skip_misclassified = false;
  run.group = group;
  const AttackRun r = run_attack(model, points, make, {eps}, run).front();
  Outcome out;
  out.x_adv = r.x_adv;
  out.claimed = r.claimed.to(torch::kBool);
  out.broken = passes > 1
                   ? majority_misclassified(model, r.x_adv, points.labels, passes, batch_size)
                   : r.success.to(torch::kBool);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

Gradients input_gradients(const Model& model, const torch::Tensor& x, const torch::Tensor& y,
                          LossKind loss, int64_t batch_size) {
  std::vector<torch::Tensor> grads, losses;
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    const int64_t end = std::min(x.size(0), start + batch_size);
    const torch::Tensor yb = y.slice(0, start, end).to(model.device());
    const LossGradient lg =
        loss_gradient(model, x.slice(0, start, end).to(model.device()),
                      [&](const torch::Tensor& z) { return attack_loss({loss}, z, yb, {}); });
    grads.push_back(lg.grad.flatten(1).cpu());
    losses.push_back(lg.loss.cpu());
  }
  return {torch::cat(grads), torch::cat(losses)};
}

torch::Tensor row_cosine(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor na = a.norm(2, 1), nb = b.norm(2, 1);
  const torch::Tensor dot = (a * b).sum(1);
  return torch::where((na > 0) & (nb > 0), dot / (na * nb).clamp_min(1e-30),
                      torch::zeros_like(dot));
}

}  // namespace advtk
