#include "leakage/dlg.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace advtk {

namespace {

// One run from one draw; `best` receives its lowest distance.
Reconstruction run_once(const MatchingProblem& p, const DlgOptions& o, torch::Generator& gen,
                        double& best) {
  const bool learn_labels = !p.labels.defined();
  torch::Tensor x = random_dummy(p, gen).requires_grad_(true);
  torch::Tensor label_logits;
  std::vector<torch::Tensor> variables = {x};
  if (learn_labels) {
    label_logits =
        torch::randn({p.batch_size, p.num_classes}, gen).to(p.model->device()).requires_grad_(true);
    variables.push_back(label_logits);
  }
  const torch::Tensor fixed_probs =
      learn_labels
          ? torch::Tensor()
          : torch::one_hot(p.labels.clamp_min(0), p.num_classes).to(x.device(), x.scalar_type());
  const auto probs = [&] { return learn_labels ? torch::softmax(label_logits, 1) : fixed_probs; };
  const auto closure = [&]() -> torch::Tensor {
    const torch::Tensor loss = matching_objective(p, x, probs(), MatchDistance::SquaredL2);
    const std::vector<torch::Tensor> g =
        torch::autograd::grad({loss}, variables, {}, false, false, /*allow_unused=*/true);
    for (size_t i = 0; i < variables.size(); ++i)
      variables[i].mutable_grad() = g[i].defined() ? g[i] : torch::zeros_like(variables[i]);
    return loss.detach();
  };

  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (o.optimizer == DlgOptimizer::Lbfgs) {
    optimizer = std::make_unique<torch::optim::LBFGS>(variables, torch::optim::LBFGSOptions(o.lr));
  } else {
    optimizer = std::make_unique<torch::optim::Adam>(variables, torch::optim::AdamOptions(o.lr));
  }
  best = std::numeric_limits<double>::infinity();
  torch::Tensor best_x = x.detach().clone(), best_logits;
  if (learn_labels) best_logits = label_logits.detach().clone();
  for (int64_t step = 0; step < o.iterations; ++step) {
    const torch::Tensor x_before = x.detach().clone();
    const torch::Tensor logits_before =
        learn_labels ? label_logits.detach().clone() : torch::Tensor();
    const double loss = optimizer->step(closure).item<double>();  // the loss at x_before
    if (!std::isfinite(loss)) break;
    if (loss < best) {
      best = loss;
      best_x = x_before;
      best_logits = logits_before;
    }
    // L-BFGS returns without moving once its gradient or change tolerance is met; every later
    // step would do the same.
    if (torch::equal(x_before, x.detach())) break;
  }
  // The last step's point has not been scored yet.
  if (torch::isfinite(x).all().item<bool>()) {
    const torch::Tensor last_probs =
        learn_labels ? torch::softmax(label_logits.detach(), 1) : fixed_probs;
    const double last =
        matching_objective(p, x.detach(), last_probs, MatchDistance::SquaredL2).item<double>();
    if (last < best) {
      best = last;
      best_x = x.detach().clone();
      if (learn_labels) best_logits = label_logits.detach().clone();
    }
  }
  Reconstruction r;
  r.x = best_x;
  r.labels = learn_labels ? best_logits.argmax(1).to(torch::kCPU) : p.labels.to(torch::kCPU);
  return r;
}

}  // namespace

Reconstruction run_dlg(const MatchingProblem& p, const DlgOptions& o, torch::Generator& gen) {
  ADVTK_CHECK(o.iterations >= 1 && o.restarts >= 1,
              "dlg: expected at least one iteration and one restart");
  double target = 0;
  for (const torch::Tensor& u : p.shared)
    target += u.to(torch::kDouble).pow(2).sum().item<double>();
  Reconstruction kept;
  double kept_distance = std::numeric_limits<double>::infinity();
  for (int64_t restart = 0; restart < o.restarts; ++restart) {
    double distance = 0;
    Reconstruction r = run_once(p, o, gen, distance);
    if (!kept.x.defined() || distance < kept_distance) {
      kept = r;
      kept_distance = distance;
    }
    if (kept_distance <= kMatched * target) break;
  }
  return kept;
}

}  // namespace advtk
