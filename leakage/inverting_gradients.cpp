#include "leakage/inverting_gradients.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace advtk {

Reconstruction run_inverting_gradients(const MatchingProblem& p, const InvertingGradientsOptions& o,
                                       torch::Generator& gen) {
  ADVTK_CHECK(p.labels.defined(), "inverting gradients: needs the labels");
  ADVTK_CHECK(o.iterations >= 1 && o.restarts >= 1,
              "inverting gradients: expected at least one iteration and one restart");
  const ModelOptions& mo = p.model->options();
  const torch::Tensor probs =
      torch::one_hot(p.labels.clamp_min(0), p.num_classes).to(p.model->device(), torch::kFloat);
  const int64_t milestones[] = {static_cast<int64_t>(o.iterations / 2.667),
                                static_cast<int64_t>(o.iterations / 1.6),
                                static_cast<int64_t>(o.iterations / 1.142)};
  double best = std::numeric_limits<double>::infinity();
  torch::Tensor best_x;
  for (int64_t restart = 0; restart < o.restarts; ++restart) {
    torch::Tensor x = random_dummy(p, gen).requires_grad_(true);
    torch::optim::Adam adam({x}, torch::optim::AdamOptions(o.lr));
    double lr = o.lr;
    for (int64_t it = 0; it < o.iterations; ++it) {
      torch::Tensor loss = matching_objective(p, x, probs, MatchDistance::Cosine);
      if (o.tv > 0) loss = loss + o.tv * total_variation(x);
      const torch::Tensor g = torch::autograd::grad({loss}, {x})[0];
      x.mutable_grad() = g.sign();
      adam.step();
      {
        torch::NoGradGuard none;
        x.clamp_(mo.input_lo, mo.input_hi);
      }
      // MultiStepLR(gamma 0.1) steps after the iteration: the new rate applies from the next.
      for (const int64_t m : milestones) {
        if (it + 1 == m) {
          lr *= 0.1;
          static_cast<torch::optim::AdamOptions&>(adam.param_groups()[0].options()).lr(lr);
        }
      }
    }
    const double score =
        matching_objective(p, x.detach(), probs, MatchDistance::Cosine).item<double>();
    if (std::isfinite(score) && (score < best || !best_x.defined())) {
      best = score;
      best_x = x.detach().clone();
    }
    if (!best_x.defined()) best_x = x.detach().clone();
  }
  Reconstruction r;
  r.x = best_x;
  r.labels = p.labels.to(torch::kCPU);
  return r;
}

}  // namespace advtk
