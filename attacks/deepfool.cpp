#include "attacks/deepfool.h"

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
  const auto dev = batch.x.device();
  torch::Tensor idx = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(dev));
  torch::Tensor x0 = batch.x, y = batch.y;
  torch::Tensor x_cur = batch.x;
  torch::Tensor r_total = torch::zeros_like(batch.x);
  torch::Tensor original, candidates;  // the clean prediction and the classes to consider

  for (int64_t it = 0; it <= o.max_iterations; ++it) {
    const torch::Tensor xi = x_cur.detach().requires_grad_(true);
    const torch::Tensor logits = model.logits(xi);
    result.forward_calls.index_add_(0, idx, torch::ones_like(idx));
    const torch::Tensor pred = logits.detach().argmax(1);
    if (it == 0) {
      const int64_t k = std::min(o.candidates, logits.size(1));
      candidates = std::get<1>(logits.detach().topk(k, 1));
      original = pred;
    }
    // Examples still in the batch are classified correctly at x, so "the label changed" and
    // "misclassified" are the same test.
    const torch::Tensor broken = pred.ne(y);
    update_rows(result.x_adv, idx, broken, xi.detach());
    result.pred.index_copy_(0, idx, pred);
    result.success.index_copy_(0, idx, broken);
    const torch::Tensor keep = (~broken).nonzero().squeeze(1);
    if (keep.numel() == 0 || it == o.max_iterations) {
      // Unbroken at the end: report the last point reached.
      if (keep.numel() > 0)
        result.x_adv.index_copy_(0, idx.index_select(0, keep), xi.detach().index_select(0, keep));
      break;
    }
    const torch::Tensor z = logits.index_select(0, keep);
    const torch::Tensor orig = original.index_select(0, keep);
    const torch::Tensor cand = candidates.index_select(0, keep);
    const torch::Tensor z_orig = z.gather(1, orig.unsqueeze(1));
    // w_j = ∇(z_j - z_orig), f_j = z_j - z_orig for every candidate j ≠ original (column 0 of
    // the top-k is the original class itself).
    std::vector<torch::Tensor> ws, fs;
    for (int64_t j = 1; j < cand.size(1); ++j) {
      const torch::Tensor cj = cand.select(1, j);
      const torch::Tensor f = z.gather(1, cj.unsqueeze(1)) - z_orig;  // [m, 1]
      const torch::Tensor g = input_gradient(f, xi, /*retain_graph=*/true);
      ws.push_back(g.index_select(0, keep).flatten(1));
      fs.push_back(f.detach().squeeze(1));
    }
    result.backward_calls.index_add_(
        0, idx.index_select(0, keep),
        torch::full({keep.numel()}, cand.size(1) - 1,
                    torch::TensorOptions().dtype(torch::kLong).device(dev)));
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
    idx = idx.index_select(0, keep);
    x0 = x0.index_select(0, keep);
    y = y.index_select(0, keep);
    original = original.index_select(0, keep);
    candidates = cand;
    r_total = r_total.index_select(0, keep) + r.view_as(x0);
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
