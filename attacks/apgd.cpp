#include "attacks/apgd.h"

#include <cmath>
#include <limits>

#include "attacks/active_set.h"
#include "attacks/loss_gradient.h"
#include "attacks/step_policy.h"
#include "core/error.h"

namespace advtk {
namespace {

torch::Tensor rows_like(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return v.reshape(shape);
}

// AutoAttack's starting point: a random point on the sphere of radius ε of the norm (Linf, L2),
// or Gaussian noise projected into the L1 ball; then the box.
torch::Tensor apgd_start(const ThreatModel& threat, const torch::Tensor& x,
                         std::vector<torch::Generator>& gens) {
  std::vector<torch::Tensor> noise;
  noise.reserve(gens.size());
  for (auto& g : gens) {
    noise.push_back(threat.norm == Norm::Linf ? torch::rand(x[0].sizes(), g) * 2 - 1
                                              : torch::randn(x[0].sizes(), g));
  }
  const torch::Tensor t = torch::stack(noise).to(x.device(), x.scalar_type());
  const torch::Tensor flat = t.flatten(1);
  if (threat.norm == Norm::L1) return project(threat, x + t, x);
  const torch::Tensor size = threat.norm == Norm::Linf ? flat.abs().amax(1) : flat.norm(2, 1);
  return (x + threat.eps * t / rows_like(size + 1e-12, t)).clamp(threat.lo, threat.hi);
}

}  // namespace

std::vector<int64_t> apgd_checkpoints(int64_t steps) {
  const auto at_least_one = [](double v) { return std::max<int64_t>(1, static_cast<int64_t>(v)); };
  const int64_t first = at_least_one(0.22 * steps);
  const int64_t decrease = at_least_one(0.03 * steps);
  const int64_t minimum = at_least_one(0.06 * steps);
  std::vector<int64_t> out;
  for (int64_t at = first, k = first; at <= steps; k = std::max(k - decrease, minimum), at += k)
    out.push_back(at);
  return out;
}

Apgd::Apgd(ApgdOptions options) : options_(options) {
  const auto& o = options_;
  check_threat(o.threat);
  ADVTK_CHECK(o.steps >= 1, "--steps: expected at least 1, got ", o.steps);
  ADVTK_CHECK(o.restarts >= 1, "--restarts: expected at least 1, got ", o.restarts);
  ADVTK_CHECK(o.loss != LossKind::Kl, "--loss kl: apgd supports ce, margin and dlr");
  ADVTK_CHECK(o.target_classes >= 1, "--target-classes: expected at least 1");
  ADVTK_CHECK(o.rho > 0 && o.rho <= 1, "rho: expected a value in (0, 1]");
  ADVTK_CHECK(o.eot >= 1, "--eot: expected at least 1 pass, got ", o.eot);
  ADVTK_CHECK(!o.large_reps || o.threat.norm == Norm::L1, "large_reps: an L1 schedule");
}

nlohmann::json Apgd::parameters() const {
  const auto& o = options_;
  nlohmann::json j = {{"attack", name()},       {"norm", norm_name(o.threat.norm)},
                      {"eps", o.threat.eps},    {"steps", o.steps},
                      {"restarts", o.restarts}, {"rho", o.rho},
                      {"eot", o.eot},           {"seed", o.seed}};
  j["loss"] = o.targeted ? "dlr-targeted" : loss_name(o.loss);
  if (o.targeted) j["target_classes"] = o.target_classes;
  if (o.large_reps) j["large_reps"] = true;
  return j;
}

AttackResult Apgd::run(const Model& model, const AttackBatch& batch) {
  const auto& o = options_;
  AttackResult result = initial_result(batch);
  const int64_t n = batch.x.size(0);
  const auto dev = batch.x.device();
  {
    // Examples the model already gets wrong count as broken, at distance 0 (as AutoAttack).
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model.logits(batch.x);
    result.forward_calls += 1;
    result.pred = logits.argmax(1);
    result.success = is_adversarial_pred(result.pred, batch.y, batch.target);
  }
  if (o.threat.eps <= 0) return result;
  const torch::Tensor all =
      torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(dev));
  // Unbroken examples report their highest-loss point (as PGD), which a transfer attack tries.
  torch::Tensor reported_loss =
      torch::full({n}, -std::numeric_limits<float>::infinity(), batch.x.options());
  // apgd-t: one round per target class (the 2nd, 3rd, ... most likely), each with its restarts.
  const int64_t rounds = o.targeted && !batch.target.defined() ? o.target_classes : 1;
  const auto attack_all = [&] {
    for (int64_t round = 0; round < rounds; ++round) {
      for (int64_t restart = 0; restart < o.restarts; ++restart) {
        const torch::Tensor idx = all.masked_select(~result.success);
        if (idx.numel() == 0) return;
        const AttackBatch sub = select_examples(batch, idx);
        torch::Tensor loss_target = sub.target;
        if (o.targeted && !batch.target.defined()) {
          torch::NoGradGuard no_grad;
          const torch::Tensor logits = model.logits(sub.x);
          result.forward_calls.index_add_(0, idx, torch::ones_like(idx));
          if (round + 1 >= logits.size(1)) return;  // no class left to target
          loss_target = std::get<1>(logits.sort(1, /*descending=*/true)).select(1, round + 1);
        }
        // apgd-ce, apgd-dlr and apgd-t draw their starts from disjoint streams: one example's
        // runs in a suite do not all begin at the same random point.
        const StreamFamily family = o.targeted                ? StreamFamily::ApgdTargeted
                                    : o.loss == LossKind::Dlr ? StreamFamily::ApgdDlr
                                                              : StreamFamily::ApgdCe;
        const uint64_t stream =
            family_stream(family, static_cast<uint64_t>(round * o.restarts + restart));
        if (!o.large_reps) {
          single_run(model, sub, idx, loss_target, stream, o.threat.eps, o.steps, {}, true, result,
                     reported_loss);
          continue;
        }
        const double eps = o.threat.eps;
        const auto first = static_cast<int64_t>(std::ceil(0.3 * static_cast<double>(o.steps)));
        const std::vector<std::pair<double, int64_t>> stages = {
            {3 * eps, first}, {2 * eps, first}, {eps, std::max<int64_t>(o.steps - 2 * first, 1)}};
        auto gens = example_generators(o.seed, sub.index, stream + (uint64_t{1} << 32));
        torch::Tensor point = sub.x + example_gaussian(gens, sub.x);
        for (size_t k = 0; k < stages.size(); ++k) {
          ThreatModel ball = o.threat;
          ball.eps = stages[k].first;
          point = project(ball, point, sub.x);
          point =
              single_run(model, sub, idx, loss_target, stream, stages[k].first, stages[k].second,
                         point, k + 1 == stages.size(), result, reported_loss);
        }
      }
    }
  };
  attack_all();
  result.distance = distance(o.threat.norm, result.x_adv, batch.x);
  return result;
}

torch::Tensor Apgd::single_run(const Model& model, const AttackBatch& sub,
                               const torch::Tensor& idx_in, const torch::Tensor& loss_target,
                               uint64_t stream, double eps, int64_t steps,
                               const torch::Tensor& start, bool record, AttackResult& result,
                               torch::Tensor& reported_loss) const {
  const auto& o = options_;
  ThreatModel threat = o.threat;
  threat.eps = eps;
  const int64_t n_features = sub.x[0].numel();
  const LossSpec spec{o.targeted ? LossKind::Dlr : o.loss};
  ActiveSet active(idx_in);
  const torch::Tensor& idx = active.rows();
  torch::Tensor y = sub.y, target = loss_target, x = sub.x;
  torch::Tensor success_target = sub.target;  // defined: the user's target must be reached
  const auto loss_fn = [&](const torch::Tensor& logits) {
    return attack_loss(spec, logits, y, target);
  };

  torch::Tensor x_adv;
  if (start.defined()) {
    x_adv = start;
  } else {
    auto gens = example_generators(o.seed, sub.index, stream);
    x_adv = apgd_start(threat, x, gens);
  }
  LossGradient lg = loss_gradient(model, x_adv, loss_fn, o.eot);
  const auto count_pass = [&] {
    result.forward_calls.index_add_(0, idx, torch::full_like(idx, o.eot));
    result.backward_calls.index_add_(0, idx, torch::full_like(idx, o.eot));
  };
  count_pass();

  const bool l1 = threat.norm == Norm::L1;
  const double alpha = l1 ? 1.0 : 2.0;
  const auto fopts = x.options();
  torch::Tensor grad = lg.grad;
  torch::Tensor step = torch::full({x.size(0)}, alpha * eps, fopts);
  torch::Tensor x_old = x_adv;
  torch::Tensor x_best = x_adv, grad_best = grad, loss_best = lg.loss, loss_prev = lg.loss;
  torch::Tensor pred_best = lg.logits.argmax(1);
  torch::Tensor loss_best_last_check = loss_best;
  torch::Tensor reduced_last_check = torch::ones_like(loss_best, torch::kBool);
  torch::Tensor increases = torch::zeros_like(loss_best);
  // L1: fraction of coordinates the sparse step moves, and the sparsity of the best point.
  torch::Tensor topk = torch::full({x.size(0)}, 0.2, fopts);
  torch::Tensor sparsity_old = torch::full({x.size(0)}, static_cast<double>(n_features), fopts);
  if (start.defined()) {  // a given start sets the sparsity to adapt from (as the reference)
    sparsity_old = (x_adv - x).ne(0).flatten(1).sum(1).to(fopts.dtype());
    topk = sparsity_old / n_features / 1.5;
  }

  const auto record_success = [&](const torch::Tensor& logits, const torch::Tensor& point) {
    const torch::Tensor pred = logits.argmax(1);
    const torch::Tensor success = is_adversarial_pred(pred, y, success_target);
    if (!record) return torch::zeros_like(success);  // a larger ball's success counts nothing
    update_rows(result.x_adv, idx, success, point);
    update_rows(result.pred, idx, success, pred);
    result.success.index_copy_(0, idx, result.success.index_select(0, idx) | success);
    return success;
  };
  torch::Tensor success = record_success(lg.logits, x_adv);

  for (torch::Tensor* t : {&y, &x, &x_adv, &x_old, &grad, &step, &x_best, &pred_best, &grad_best,
                           &loss_best, &loss_prev, &loss_best_last_check, &reduced_last_check,
                           &increases, &topk, &sparsity_old, &target, &success_target})
    active.carry(*t);

  const auto fraction = [&](double f) {
    return std::max<int64_t>(1, static_cast<int64_t>(f * static_cast<double>(steps)));
  };
  const int64_t decrease = fraction(0.03), minimum = fraction(0.06);
  int64_t k = l1 ? fraction(0.04) : fraction(0.22);
  int64_t since_check = 0;

  for (int64_t i = 0; i < steps; ++i) {
    // Broken examples leave the run: APGD keeps the first adversarial point it finds, so robust
    // accuracy is the same as running them to the end.
    if (!active.keep(~success)) return x_best;
    torch::Tensor x_next;
    {
      torch::NoGradGuard no_grad;
      const double a = i > 0 ? 0.75 : 1.0;
      const torch::Tensor x_prev = x_old;
      x_old = x_adv;
      if (!l1) {
        const torch::Tensor z = project(threat, x_adv + steepest_step(threat.norm, grad, step), x);
        x_next = project(threat, heavy_ball(x_adv, z, x_prev, a), x);
      } else {
        // Sparse step on the coordinates with the top-k |gradient| (k = topk · features).
        const torch::Tensor sorted = std::get<0>(grad.abs().flatten(1).sort(1));
        const torch::Tensor pos =
            ((1 - topk) * n_features).clamp(0, n_features - 1).to(torch::kLong);
        const torch::Tensor threshold = sorted.gather(1, pos.unsqueeze(1)).squeeze(1);
        const torch::Tensor sparse_sign =
            (grad * grad.abs().ge(rows_like(threshold, grad)).to(grad.scalar_type())).sign();
        const torch::Tensor count = sparse_sign.abs().flatten(1).sum(1);
        x_next = project(threat,
                         x_adv + rows_like(step, x) * sparse_sign / rows_like(count + 1e-10, x), x);
      }
    }
    x_adv = x_next;
    lg = loss_gradient(model, x_adv, loss_fn, o.eot);
    count_pass();
    grad = lg.grad;
    success = record_success(lg.logits, x_adv);

    torch::NoGradGuard no_grad;
    const torch::Tensor loss = lg.loss;
    increases += loss.gt(loss_prev).to(increases.scalar_type());
    loss_prev = loss;
    const torch::Tensor better = loss.gt(loss_best);
    x_best = where_rows(better, x_adv, x_best);
    pred_best = torch::where(better, lg.logits.argmax(1), pred_best);
    grad_best = where_rows(better, grad, grad_best);
    loss_best = torch::where(better, loss, loss_best);

    if (++since_check < k) continue;
    since_check = 0;
    torch::Tensor restart_from_best;
    if (!l1) {
      const torch::Tensor oscillating = increases.le(k * o.rho);
      const torch::Tensor stalled = ~reduced_last_check & loss_best_last_check.ge(loss_best);
      restart_from_best = oscillating | stalled;
      reduced_last_check = restart_from_best;
      loss_best_last_check = loss_best;
      step = torch::where(restart_from_best, step / 2, step);
      k = std::max(k - decrease, minimum);
    } else {
      const torch::Tensor sparsity = (x_best - x).ne(0).flatten(1).sum(1).to(fopts.dtype());
      restart_from_best = (sparsity / sparsity_old).lt(0.95);
      topk = sparsity / n_features / 1.5;
      step = torch::where(restart_from_best, torch::full_like(step, alpha * eps), step / 1.5)
                 .clamp(alpha * eps / 10, alpha * eps);
      sparsity_old = sparsity;
    }
    x_adv = where_rows(restart_from_best, x_best, x_adv);
    grad = where_rows(restart_from_best, grad_best, grad);
    increases.zero_();
  }
  if (record) {
    const torch::Tensor better = ~success & loss_best.gt(reported_loss.index_select(0, idx));
    update_rows(result.x_adv, idx, better, x_best);
    update_rows(result.pred, idx, better, pred_best);
    update_rows(reported_loss, idx, better, loss_best);
  }
  return x_best;
}

AttackInfo apgd_info(bool targeted) {
  std::vector<OptionSpec> options = {steps_option(100), restarts_option()};
  if (!targeted) options.push_back(loss_option("ce", {"ce", "margin", "cw", "dlr"}));
  if (targeted) options.push_back(target_classes_option());
  options.push_back(eot_option());
  options.push_back(flag_option("l1-schedule", false,
                                "L1: AutoAttack's schedule, 30% of the iterations at 3 eps, 30% at "
                                "2 eps, the rest at eps"));
  AttackInfo info;
  info.name = targeted ? "apgd-t" : "apgd";
  info.description =
      targeted ? "APGD on the targeted DLR loss towards the 9 most likely other classes "
                 "(Croce & Hein 2020)"
               : "Auto-PGD, step-size free, 100 iterations, CE or DLR loss (Croce & Hein 2020)";
  info.norms = {Norm::Linf, Norm::L2, Norm::L1};
  info.supports_eot = true;
  info.options = options;
  info.make = [targeted](const AttackSetup& s, const OptionValues& v) {
    ApgdOptions o;
    o.threat = s.threat;
    o.steps = v.integer("steps");
    o.restarts = v.integer("restarts");
    if (!targeted) o.loss = parse_loss(v.choice("loss"));
    o.targeted = targeted;
    if (targeted) o.target_classes = v.integer("target-classes");
    o.eot = v.integer("eot");
    o.large_reps = v.flag("l1-schedule");
    o.seed = s.seed;
    return std::unique_ptr<Attack>(std::make_unique<Apgd>(o));
  };
  return info;
}

}  // namespace advtk
