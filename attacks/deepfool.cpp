#include "attacks/deepfool.h"

#include "attacks/active_set.h"
#include "attacks/loss_gradient.h"
#include "core/error.h"

namespace advtk {

DeepFool::DeepFool(DeepFoolOptions options) : options_(options) {
  ADVTK_CHECK(options_.norm != Norm::L1, "deepfool: supports --norm l2 and linf");
  ADVTK_CHECK(options_.candidates >= 2, "--candidates: expected at least 2, got ",
              options_.candidates);
  ADVTK_CHECK(options_.overshoot >= 0, "--overshoot: expected >= 0, got ", options_.overshoot);
  ADVTK_CHECK(options_.max_iterations >= 1, "--steps: expected at least 1");
}

nlohmann::json DeepFool::parameters() const {
  return {{"attack", "deepfool"},
          {"norm", norm_name(options_.norm)},
          {"candidates", options_.candidates},
          {"overshoot", options_.overshoot},
          {"max_iterations", options_.max_iterations}};
}

AttackResult DeepFool::run(const Model& model, const AttackBatch& batch) {
  ADVTK_CHECK(!batch.target.defined(), "deepfool is untargeted: drop --target");
  torch::AutoGradMode grad_mode(true);  // callers may hold a NoGradGuard
  const auto& o = options_;
  AttackResult result = initial_result(batch);
  const int64_t n = batch.x.size(0);
  ActiveSet active(
      torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(batch.x.device())));
  torch::Tensor x0 = batch.x, y = batch.y;
  torch::Tensor x_cur = batch.x;
  torch::Tensor r_total = torch::zeros_like(batch.x);
  torch::Tensor original, candidates;  // the clean prediction and the classes to consider
  for (torch::Tensor* t : {&x0, &y, &r_total, &original, &candidates}) active.carry(*t);

  for (int64_t it = 0; it <= o.max_iterations; ++it) {
    const torch::Tensor xi = x_cur.detach().requires_grad_(true);
    const torch::Tensor logits = model.logits(xi);
    active.count(result.forward_calls);
    const torch::Tensor pred = logits.detach().argmax(1);
    if (it == 0) {
      const int64_t k = std::min(o.candidates, logits.size(1));
      candidates = std::get<1>(logits.detach().topk(k, 1));
      original = pred;
    }
    // Examples still in the set are classified correctly at x, so "the label changed" and
    // "misclassified" are the same test.
    const torch::Tensor broken = pred.ne(y);
    active.write_where(result.x_adv, broken, xi.detach());
    active.write(result.pred, pred);
    active.write(result.success, broken);
    if (it == o.max_iterations) {
      // Unbroken at the end: report the last point reached.
      active.write(result.x_adv, xi.detach());
      break;
    }
    if (!active.keep(~broken)) break;
    const torch::Tensor z = active.narrowed(logits);
    const torch::Tensor z_orig = z.gather(1, original.unsqueeze(1));
    // w_j = ∇(z_j - z_orig), f_j = z_j - z_orig for every candidate j ≠ original (column 0 of
    // the top-k is the original class itself).
    std::vector<torch::Tensor> ws, fs;
    for (int64_t j = 1; j < candidates.size(1); ++j) {
      const torch::Tensor cj = candidates.select(1, j);
      const torch::Tensor f = z.gather(1, cj.unsqueeze(1)) - z_orig;  // [m, 1]
      const torch::Tensor g = input_gradient(f, xi, /*retain_graph=*/true);
      ws.push_back(active.narrowed(g).flatten(1));
      fs.push_back(f.detach().squeeze(1));
    }
    active.count(result.backward_calls, candidates.size(1) - 1);
    const torch::Tensor w = torch::stack(ws, 1);                                      // [m, c, D]
    const torch::Tensor f = torch::stack(fs, 1).abs();                                // [m, c]
    const torch::Tensor w_norm = o.norm == Norm::L2 ? w.norm(2, 2) : w.abs().sum(2);  // dual norm
    const torch::Tensor dist = f / w_norm.clamp_min(1e-12);
    const torch::Tensor best = dist.argmin(1);
    const torch::Tensor w_best =
        w.gather(1, best.view({-1, 1, 1}).expand({-1, 1, w.size(2)})).squeeze(1);
    const torch::Tensor f_best = f.gather(1, best.unsqueeze(1));
    const torch::Tensor nb = w_norm.gather(1, best.unsqueeze(1)).clamp_min(1e-12);
    // The step onto the linearised boundary, with the authors' 1e-4 added to |f|: it keeps the
    // steps from vanishing when the box clips part of them (without it, far fewer examples break).
    const torch::Tensor r = o.norm == Norm::L2 ? (f_best + 1e-4) / (nb * nb) * w_best
                                               : (f_best + 1e-4) / nb * w_best.sign();
    r_total = r_total + r.view_as(x0);
    x_cur = (x0 + (1 + o.overshoot) * r_total).clamp(o.lo, o.hi);
  }
  result.distance = distance(o.norm, result.x_adv, batch.x);
  return result;
}

AttackInfo deepfool_info() {
  AttackInfo info;
  info.name = "deepfool";
  info.description =
      "minimal perturbation to the nearest linearised boundary (Moosavi-Dezfooli et al. 2016)";
  info.norms = {Norm::L2, Norm::Linf};
  info.minimum_norm = true;
  info.targeted = false;
  info.options = {
      integer_option("candidates", 10, 2, "classes considered"),
      real_option("overshoot", 0.02, 0, std::numeric_limits<double>::infinity(), "overshoot"),
      steps_option(50)};
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    DeepFoolOptions o;
    o.norm = s.threat.norm;
    o.candidates = v.integer("candidates");
    o.overshoot = v.real("overshoot");
    o.max_iterations = v.integer("steps");
    o.lo = s.threat.lo;
    o.hi = s.threat.hi;
    return std::unique_ptr<Attack>(std::make_unique<DeepFool>(o));
  };
  return info;
}

}  // namespace advtk
