#include "attacks/carlini_wagner.h"

#include <cmath>
#include <limits>

#include "attacks/losses.h"
#include "core/error.h"

namespace advtk {
namespace {

// Pixels on the box bounds map to tanh^-1(±kTanhLimit). The reference uses 1 - 1e-6, where tanh's
// slope is 2e-6 and such pixels (half of a Fashion-MNIST image) can hardly move; at 1 - 1e-3 the
// slope is 2e-3 and the start moves them by at most 5e-4·(hi - lo), counted in the distance.
constexpr double kTanhLimit = 1 - 1e-3;

}  // namespace

CarliniWagnerL2::CarliniWagnerL2(CarliniWagnerOptions options) : options_(options) {
  ADVTK_CHECK(options_.binary_search_steps >= 1, "--binary-steps: expected at least 1");
  ADVTK_CHECK(options_.steps >= 1, "--steps: expected at least 1");
  ADVTK_CHECK(options_.learning_rate > 0, "--cw-lr: expected a positive learning rate");
  ADVTK_CHECK(options_.initial_const > 0, "--initial-const: expected a positive constant");
  ADVTK_CHECK(options_.confidence >= 0, "--confidence: expected >= 0");
}

nlohmann::json CarliniWagnerL2::parameters() const {
  const auto& o = options_;
  return {{"attack", "cw"},
          {"norm", "l2"},
          {"binary_search_steps", o.binary_search_steps},
          {"steps", o.steps},
          {"learning_rate", o.learning_rate},
          {"initial_const", o.initial_const},
          {"confidence", o.confidence},
          {"abort_early", o.abort_early}};
}

AttackResult CarliniWagnerL2::run(const Model& model, const AttackBatch& batch) {
  const auto& o = options_;
  const bool targeted = batch.target.defined();
  AttackResult result = initial_result(batch);
  const int64_t n = batch.x.size(0);
  const auto fopts = batch.x.options();
  const auto dev = batch.x.device();
  const double scale = (o.hi - o.lo) / 2;
  const auto to_pixels = [&](const torch::Tensor& w) {
    return (torch::tanh(w) + 1) * scale + o.lo;
  };
  const torch::Tensor w_x =
      torch::atanh(((batch.x - o.lo) / scale - 1).clamp(-kTanhLimit, kTanhLimit));

  torch::Tensor lower = torch::zeros({n}, fopts.dtype(torch::kDouble));
  torch::Tensor upper = torch::full({n}, 1e10, fopts.dtype(torch::kDouble));
  torch::Tensor c = torch::full({n}, o.initial_const, fopts.dtype(torch::kDouble));
  torch::Tensor best_l2 = torch::full({n}, std::numeric_limits<float>::infinity(), fopts);
  torch::Tensor w_start = w_x.clone();
  const torch::Tensor label_or_target = targeted ? batch.target : batch.y;
  const int64_t check_every = std::max<int64_t>(1, o.steps / 10);

  for (int64_t bs = 0; bs < o.binary_search_steps; ++bs) {
    torch::Tensor idx = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(dev));
    torch::Tensor w = w_start.clone();
    torch::Tensor w_end = w_start.clone();  // where each example's run ended
    torch::Tensor m = torch::zeros_like(w), v = torch::zeros_like(w);
    torch::Tensor found = torch::zeros({n}, torch::TensorOptions().dtype(torch::kBool).device(dev));
    torch::Tensor prev_loss = torch::full({n}, std::numeric_limits<float>::infinity(), fopts);
    torch::Tensor x0 = batch.x, y = batch.y, cls = label_or_target, cc = c.to(fopts.dtype());
    for (int64_t step = 1; step <= o.steps; ++step) {
      const torch::Tensor wi = w.detach().requires_grad_(true);
      const torch::Tensor xa = to_pixels(wi);
      const torch::Tensor logits = model.logits(xa);
      result.forward_calls.index_add_(0, idx, torch::ones_like(idx));
      const torch::Tensor own = logits.gather(1, cls.unsqueeze(1)).squeeze(1);
      const torch::Tensor other = best_other_logit(logits, cls);
      // f <= -κ means the example is adversarial with confidence κ.
      const torch::Tensor f = (targeted ? other - own : own - other).clamp_min(-o.confidence);
      const torch::Tensor l2sq = (xa - x0).pow(2).flatten(1).sum(1);
      const torch::Tensor loss = l2sq + cc * f;
      const torch::Tensor grad = torch::autograd::grad({loss.sum()}, {wi})[0];
      result.backward_calls.index_add_(0, idx, torch::ones_like(idx));

      {
        torch::NoGradGuard no_grad;
        const torch::Tensor pred = logits.argmax(1);
        const torch::Tensor margin_ok =
            targeted ? (own - other).gt(o.confidence) : (other - own).gt(o.confidence);
        const torch::Tensor adversarial =
            margin_ok & is_adversarial_pred(pred, y, targeted ? cls : torch::Tensor());
        const torch::Tensor l2 = l2sq.sqrt();
        const torch::Tensor better = adversarial & l2.lt(best_l2.index_select(0, idx));
        update_rows(best_l2, idx, better, l2);
        update_rows(result.x_adv, idx, better, xa);
        // The reported prediction is the one at the reported point (x until a success).
        update_rows(result.pred, idx, better, pred);
        result.success.index_copy_(0, idx, result.success.index_select(0, idx) | adversarial);
        found.index_copy_(0, idx, found.index_select(0, idx) | adversarial);

        // Adam (Kingma & Ba 2015), elementwise, so every example's run is independent.
        const double b1 = 0.9, b2 = 0.999;
        m.mul_(b1).add_(grad, 1 - b1);
        v.mul_(b2).addcmul_(grad, grad, 1 - b2);
        const double bias1 = 1 - std::pow(b1, step), bias2 = 1 - std::pow(b2, step);
        // w - lr·(m/bias1)/(sqrt(v/bias2) + 1e-8), in place on the detached iterate.
        w = wi.detach();
        w.addcdiv_(m, (v / bias2).sqrt_().add_(1e-8), -o.learning_rate / bias1);

        if (o.abort_early && step % check_every == 0) {
          // Per example: stop when the objective fell by less than 0.01% since the last check.
          const torch::Tensor loss_now = loss.detach();
          const torch::Tensor keep = loss_now.le(prev_loss * 0.9999).nonzero().squeeze(1);
          prev_loss = loss_now;
          w_end.index_copy_(0, idx, w);
          if (keep.numel() == 0) break;
          if (keep.numel() < idx.numel()) {
            const auto narrow = [&](torch::Tensor& t) { t = t.index_select(0, keep); };
            for (torch::Tensor* t : {&idx, &w, &m, &v, &prev_loss, &x0, &y, &cls, &cc}) narrow(*t);
          }
        }
      }
    }
    w_end.index_copy_(0, idx, w);
    // Bisection on c per example (×10 while no success has been seen).
    const torch::Tensor found_d = found;
    upper = torch::where(found_d, torch::minimum(upper, c), upper);
    lower = torch::where(found_d, lower, torch::maximum(lower, c));
    c = torch::where(upper < 1e9, (lower + upper) / 2, c * 10);
    // The next step starts from the best adversarial example, else from where this one ended
    // (a larger c continues the way towards the boundary instead of starting over).
    w_start = where_rows(
        result.success,
        torch::atanh(((result.x_adv - o.lo) / scale - 1).clamp(-kTanhLimit, kTanhLimit)), w_end);
  }
  result.distance = distance(Norm::L2, result.x_adv, batch.x);
  return result;
}

}  // namespace advtk
