#include "attacks/fmn.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attacks/loss_gradient.h"
#include "attacks/losses.h"
#include "core/error.h"

namespace advtk {
namespace {

// [N] → [N, 1, ..., 1] to scale rows of a batch shaped like `like`.
torch::Tensor per_row(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = like.size(0);
  return v.view(shape);
}

// The norm whose unit ball the gradient's step length is measured against: ‖g‖_q, 1/p + 1/q = 1.
Norm dual_of(Norm norm) {
  switch (norm) {
    case Norm::Linf:
      return Norm::L1;
    case Norm::L2:
      return Norm::L2;
    case Norm::L1:
      return Norm::Linf;
  }
  return Norm::L2;
}

// δ projected onto {‖δ‖_p <= eps (per row), lo <= x + δ <= hi}.
torch::Tensor project_delta(Norm norm, const torch::Tensor& delta, const torch::Tensor& eps,
                            const torch::Tensor& x, double lo, double hi) {
  torch::Tensor d;
  switch (norm) {
    case Norm::Linf: {
      const torch::Tensor e = per_row(eps, delta);
      d = torch::max(torch::min(delta, e), -e);
      break;
    }
    case Norm::L2: {
      const torch::Tensor norms = delta.flatten(1).norm(2, 1).clamp_min(1e-12);
      d = delta * per_row((eps / norms).clamp_max(1.0), delta);
      break;
    }
    case Norm::L1:
      d = project_l1_box(delta.flatten(1), eps, (lo - x).flatten(1), (hi - x).flatten(1))
              .view_as(delta);
      break;
  }
  return (x + d).clamp(lo, hi) - x;
}

}  // namespace

Fmn::Fmn(FmnOptions options) : options_(options) {
  const auto& o = options_;
  ADVTK_CHECK(o.steps >= 1, "--steps: expected at least 1, got ", o.steps);
  ADVTK_CHECK(o.alpha_init > 0 && std::isfinite(o.alpha_init), "--alpha-init: expected > 0, got ",
              o.alpha_init);
  ADVTK_CHECK(o.gamma_init > 0 && o.gamma_init < 1,
              "--gamma-init: expected a value in (0, 1), got ", o.gamma_init);
  ADVTK_CHECK(o.gamma_final > 0 && o.gamma_final <= o.gamma_init,
              "gamma_final: expected a value in (0, gamma_init]");
  if (options_.alpha_final <= 0) options_.alpha_final = o.alpha_init / 100;
}

nlohmann::json Fmn::parameters() const {
  const auto& o = options_;
  return {{"attack", "fmn"},
          {"norm", norm_name(o.norm)},
          {"steps", o.steps},
          {"alpha_init", o.alpha_init},
          {"alpha_final", o.alpha_final},
          {"gamma_init", o.gamma_init},
          {"gamma_final", o.gamma_final},
          {"schedule", "cosine"},
          {"loss", "logit difference"}};
}

AttackResult Fmn::run(const Model& model, const AttackBatch& batch) {
  torch::AutoGradMode grad_mode(true);  // callers may hold a NoGradGuard
  const auto& o = options_;
  AttackResult result = initial_result(batch);
  const torch::Tensor& x = batch.x;
  const int64_t n = x.size(0);
  const bool targeted = batch.target.defined();
  const torch::Tensor labels = targeted ? batch.target : batch.y;
  const double sign = targeted ? 1.0 : -1.0;  // ascend towards the target, away from the label
  const auto is_adversarial_pred = [&](const torch::Tensor& pred) {
    return targeted ? pred.eq(labels) : pred.ne(labels);
  };

  // The largest perturbation the box allows: ε never needs to exceed it.
  const torch::Tensor worst_norm = row_norm(o.norm, torch::max(x - o.lo, o.hi - x).flatten(1));
  torch::Tensor eps =
      torch::full({n}, std::numeric_limits<float>::infinity(), worst_norm.options());
  torch::Tensor best_norm = torch::full_like(worst_norm, std::numeric_limits<float>::infinity());
  torch::Tensor best_adv = x.clone();
  torch::Tensor best_pred = torch::full({n}, -1, labels.options());
  torch::Tensor found = torch::zeros({n}, labels.options().dtype(torch::kBool));
  torch::Tensor delta = torch::zeros_like(x);
  const torch::Tensor ones =
      torch::ones({n}, torch::TensorOptions().dtype(torch::kLong).device(x.device()));

  // Keeps the point x + δ where it is adversarial and smaller than the best so far.
  const auto record = [&](const torch::Tensor& pred, const torch::Tensor& delta_norm,
                          const torch::Tensor& point) {
    const torch::Tensor adversarial = is_adversarial_pred(pred);
    const torch::Tensor better = adversarial & delta_norm.lt(best_norm);
    best_norm = torch::where(better, delta_norm, best_norm);
    best_adv = torch::where(per_row(better, point), point, best_adv);
    best_pred = torch::where(better, pred, best_pred);
    found |= adversarial;
    return adversarial;
  };

  for (int64_t i = 0; i < o.steps; ++i) {
    const double cosine =
        (1 + std::cos(M_PI * static_cast<double>(i) / static_cast<double>(o.steps))) / 2;
    const double alpha = o.alpha_final + (o.alpha_init - o.alpha_final) * cosine;
    const double gamma = o.gamma_final + (o.gamma_init - o.gamma_final) * cosine;

    const torch::Tensor delta_norm = row_norm(o.norm, delta.flatten(1));
    const torch::Tensor xi = (x + delta).detach().requires_grad_(true);
    const torch::Tensor logits = model.logits(xi);
    const torch::Tensor own = logits.gather(1, labels.unsqueeze(1)).squeeze(1);
    const torch::Tensor loss = sign * (own - best_other_logit(logits, labels));
    const torch::Tensor grad = input_gradient(loss, xi);
    result.forward_calls += ones;
    result.backward_calls += ones;
    const torch::Tensor adversarial = record(logits.detach().argmax(1), delta_norm, xi.detach());

    // Until something is found: the first-order distance to the boundary, ‖δ‖ + |loss|/‖∇‖_dual,
    // and at least ‖δ‖(1 + γ). The floor is ours, not the paper's: a point exactly on a flat
    // boundary (an affine model) is not adversarial, its loss is 0, and the estimate alone would
    // return it there at every step.
    const torch::Tensor to_boundary =
        loss.detach().abs() / row_norm(dual_of(o.norm), grad.flatten(1)).clamp_min(1e-12);
    const torch::Tensor first_order =
        torch::maximum(delta_norm + to_boundary, delta_norm * (1 + gamma));
    eps = torch::where(adversarial, torch::minimum(eps * (1 - gamma), best_norm),
                       torch::where(found, eps * (1 + gamma), first_order));
    eps = torch::minimum(eps, worst_norm);

    const torch::Tensor g_norm = grad.flatten(1).norm(2, 1).clamp_min(1e-12);
    delta = project_delta(o.norm, delta + alpha * grad / per_row(g_norm, grad), eps, x, o.lo, o.hi);
  }
  // The last step's point, which the loop has not judged yet.
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor point = x + delta;
    record(model.logits(point).argmax(1), row_norm(o.norm, delta.flatten(1)), point);
    result.forward_calls += ones;
  }
  result.x_adv = best_adv;
  result.success = best_pred.ge(0);  // set at the first adversarial point, kept since
  result.pred = torch::where(result.success, best_pred, result.pred);
  result.distance = distance(o.norm, result.x_adv, x);
  return result;
}

AttackInfo fmn_info() {
  OptionSpec alpha = real_option("alpha-init", 1.0, 0, std::numeric_limits<double>::infinity(),
                                 "FMN: the first step size (cosine-annealed to 1%)", true);
  OptionSpec gamma =
      real_option("gamma-init", 0.05, 0, 1,
                  "FMN: the first rate of the radius' change (annealed to 0.001)", true);
  AttackInfo info;
  info.name = "fmn";
  info.description =
      "fast minimum-norm attack: normalised steps in an Lp ball whose radius adapts per "
      "example (Pintor et al. 2021)";
  info.norms = {Norm::L2, Norm::Linf, Norm::L1};
  info.minimum_norm = true;
  info.options = {steps_option(100), alpha, gamma};
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    FmnOptions o;
    o.norm = s.threat.norm;
    o.steps = v.integer("steps");
    o.alpha_init = v.real("alpha-init");
    o.gamma_init = v.real("gamma-init");
    o.gamma_final = std::min(o.gamma_final, o.gamma_init);
    o.lo = s.threat.lo;
    o.hi = s.threat.hi;
    return std::unique_ptr<Attack>(std::make_unique<Fmn>(o));
  };
  return info;
}

}  // namespace advtk
