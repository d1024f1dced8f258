#include "attacks/fab.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "attacks/active_set.h"
#include "attacks/loss_gradient.h"
#include "core/error.h"

namespace advtk {
namespace {

using torch::Tensor;

Tensor flat(const Tensor& t) { return t.reshape({t.size(0), -1}); }

// The dual norm over the last dimension: a hyperplane with normal g lies |gap| / ||g||_dual away.
Tensor dual_norm(Norm norm, const Tensor& g) {
  switch (norm) {
    case Norm::Linf:
      return g.abs().sum(-1);
    case Norm::L2:
      return g.norm(2, -1);
    case Norm::L1:
      return g.abs().amax(-1);
  }
  TORCH_INTERNAL_ASSERT(false);
}

// Σ_{j >= k} v_j for k = 0..D along dim 1, as [M, D + 1] (exact zeros at the end).
Tensor suffix_sums(const Tensor& v) {
  return torch::cat({v.flip(1).cumsum(1).flip(1), torch::zeros({v.size(0), 1}, v.options())}, 1);
}

// Σ_{j < k} v_j for k = 0..D along dim 1, as [M, D + 1].
Tensor prefix_sums(const Tensor& v) {
  return torch::cat({torch::zeros({v.size(0), 1}, v.options()), v.cumsum(1)}, 1);
}

// The logit gaps z_c - z_leave at x for the classes c in `classes` [m, C], and their input
// gradients [m, C, D]: one forward pass and one backward pass per column of `classes`. An
// undefined `leave` means the strongest class at x other than the one in `classes` (a target).
std::pair<Tensor, Tensor> linearise(const Model& model, const Tensor& x, Tensor leave,
                                    const Tensor& classes) {
  const Tensor xi = x.detach().requires_grad_(true);
  torch::AutoGradMode grad_mode(true);
  const Tensor logits = model.logits(xi);
  if (!leave.defined()) {
    leave = logits.detach().scatter(1, classes, -std::numeric_limits<double>::infinity()).argmax(1);
  }
  const Tensor gaps = logits.gather(1, classes) - logits.gather(1, leave.unsqueeze(1));
  const int64_t columns = classes.size(1);
  std::vector<Tensor> grads;
  grads.reserve(columns);
  for (int64_t j = 0; j < columns; ++j) {
    grads.push_back(
        input_gradient(gaps.select(1, j), xi, /*retain_graph=*/j + 1 < columns).flatten(1));
  }
  return {gaps.detach(), torch::stack(grads, 1)};
}

// AutoAttack's restart start: x0 plus noise of norm eps/2 in the attack's norm (uniform for
// Linf, Gaussian for L2 and L1 before scaling), clipped to the box.
Tensor restart_start(const ThreatModel& tm, const Tensor& x0,
                     std::vector<torch::Generator>& generators) {
  const int64_t d = x0[0].numel();
  std::vector<Tensor> rows;
  rows.reserve(generators.size());
  for (auto& gen : generators) {
    rows.push_back(tm.norm == Norm::Linf ? torch::rand({d}, gen).mul_(2).sub_(1)
                                         : torch::randn({d}, gen));
  }
  const Tensor noise = torch::stack(rows).to(x0.device(), x0.scalar_type());
  const Tensor unit = noise / row_norm(tm.norm, noise).clamp_min(1e-12).unsqueeze(1);
  return (x0 + 0.5 * tm.eps * unit.view_as(x0)).clamp(tm.lo, tm.hi);
}

struct RunOutput {
  Tensor x_adv;     // the smallest adversarial point found, or x0 where none
  Tensor distance;  // its distance from x0, +inf where none
};

// One FAB run from x1 (AutoAttack's attack_single_run), followed by the final search. `sub` holds
// the examples (at `rows` of the result, which counts the calls; a row may repeat in a stacked
// run), `leave` the class each one is leaving (undefined: see linearise) and `classes` the
// classes whose boundaries with it are linearised.
RunOutput fab_run(const Model& model, const FabOptions& o, const AttackBatch& sub,
                  const Tensor& leave, const Tensor& classes, Tensor x1, const ActiveSet& rows,
                  AttackResult& counts) {
  const ThreatModel& tm = o.threat;
  const int64_t m = sub.x.size(0);
  const Tensor x0 = sub.x, x0f = flat(sub.x);
  Tensor best = x0.clone();
  Tensor best_dist = torch::full({m}, std::numeric_limits<double>::infinity(), x0.options());
  for (int64_t step = 0; step < o.steps; ++step) {
    const auto [gaps, grads] = linearise(model, x1, leave, classes);
    rows.count(counts.forward_calls);
    rows.count(counts.backward_calls, classes.size(1));
    const Tensor nearest = (gaps.abs() / (dual_norm(tm.norm, grads) + 1e-12)).argmin(1, true);
    const Tensor w = grads.gather(1, nearest.unsqueeze(2).expand({m, 1, grads.size(2)})).squeeze(1);
    const Tensor gap = gaps.gather(1, nearest).squeeze(1);
    const Tensor x1f = flat(x1);
    // Both points onto the same linearised boundary in one call; x1's offset from it is the gap
    // itself, which is more accurate than going through w·x1.
    const Tensor offsets = torch::cat({gap, gap + (w * (x0f - x1f)).sum(1)});
    const Tensor d = hyperplane_box_step(tm.norm, torch::cat({x1f, x0f}), torch::cat({w, w}),
                                         offsets, tm.lo, tm.hi);
    const Tensor size = row_norm(tm.norm, d).clamp_min(1e-8);
    const Tensor a1 = size.slice(0, 0, m), a2 = size.slice(0, m);
    // The closer x1 is to the boundary relative to x0, the less the step leans towards x0.
    const Tensor alpha = (a1 / (a1 + a2)).clamp(0, o.alpha_max).unsqueeze(1);
    const Tensor next =
        ((x1f + o.eta * d.slice(0, 0, m)) * (1 - alpha) + (x0f + o.eta * d.slice(0, m)) * alpha)
            .clamp(tm.lo, tm.hi)
            .view_as(x0);
    Tensor pred;
    {
      torch::NoGradGuard no_grad;
      pred = model.logits(next).argmax(1);
    }
    rows.count(counts.forward_calls);
    const Tensor adv = is_adversarial_pred(pred, sub.y, sub.target);
    const Tensor dist = distance(tm.norm, next, x0);
    const Tensor better = adv & dist.lt(best_dist);
    best = where_rows(better, next, best);
    best_dist = torch::where(better, dist, best_dist);
    // Past the boundary: go back towards x0, so the next steps look for a closer crossing.
    x1 = where_rows(adv, x0 + (next - x0) * o.beta, next);
  }

  // The final search: bisect the segment from x0 to each point found; the end kept is always
  // adversarial, so the perturbation only shrinks.
  const Tensor hits = best_dist.isfinite().nonzero().squeeze(1);
  if (o.final_search_steps > 0 && hits.numel() > 0) {
    const AttackBatch found = select_examples(sub, hits);
    const ActiveSet found_rows(rows.rows().index_select(0, hits));
    const Tensor far = best.index_select(0, hits);
    Tensor point = far;
    Tensor t_lo = torch::zeros({hits.numel()}, x0.options());
    Tensor t_hi = torch::ones({hits.numel()}, x0.options());
    std::vector<int64_t> shape(x0.dim(), 1);
    shape[0] = hits.numel();
    for (int64_t s = 0; s < o.final_search_steps; ++s) {
      const Tensor mid = (t_lo + t_hi) / 2;
      const Tensor z = (found.x + mid.view(shape) * (far - found.x)).clamp(tm.lo, tm.hi);
      Tensor pred;
      {
        torch::NoGradGuard no_grad;
        pred = model.logits(z).argmax(1);
      }
      found_rows.count(counts.forward_calls);
      const Tensor adv = is_adversarial_pred(pred, found.y, found.target);
      point = where_rows(adv, z, point);
      t_hi = torch::where(adv, mid, t_hi);
      t_lo = torch::where(adv, t_lo, mid);
    }
    best.index_copy_(0, hits, point);
    best_dist.index_copy_(0, hits, distance(tm.norm, point, found.x));
  }
  return {best, best_dist};
}

}  // namespace

Tensor hyperplane_box_step(Norm norm, const Tensor& t, const Tensor& w_in, const Tensor& c_in,
                           double lo, double hi) {
  // Orient each hyperplane so that t has to lower w·z by c >= 0. Every norm moves coordinate i
  // only towards lower w·z, by at most reach_i (to lo where w_i > 0, to hi where w_i < 0); the
  // norms differ in which coordinates they move first.
  const Tensor w = torch::where(c_in.lt(0).unsqueeze(1), -w_in, w_in);
  const Tensor c = c_in.abs().unsqueeze(1);
  const Tensor zero = torch::zeros_like(t);
  const Tensor room = torch::where(w.gt(0), (lo - t).clamp_max(0),
                                   torch::where(w.lt(0), (hi - t).clamp_min(0), zero));
  const Tensor aw = w.abs(), reach = room.abs(), dir = room.sign();
  const Tensor gain = aw * reach;  // the drop in w·z when coordinate i moves all the way
  const Tensor feasible = gain.sum(1, true).ge(c);
  const int64_t dim = t.size(1);
  const double inf = std::numeric_limits<double>::infinity();
  Tensor d;
  switch (norm) {
    case Norm::Linf: {
      // Every coordinate moves min(λ, reach_i): the drop Σ aw_i min(λ, reach_i) is piecewise
      // linear in λ, with kinks at the sorted reaches p_k. Below p_k, the coordinates before k
      // are saturated and the rest move at total rate Σ_{i>=k} aw_i.
      const auto sorted = reach.sort(1);
      const Tensor p = std::get<0>(sorted), order = std::get<1>(sorted);
      const Tensor ws = aw.gather(1, order);
      const Tensor saturated = prefix_sums(ws * p), rate = suffix_sums(ws);
      const Tensor at_kinks = saturated.slice(1, 0, dim) + p * rate.slice(1, 0, dim);
      const Tensor k = at_kinks.lt(c).sum(1, true);
      const Tensor rate_k = rate.gather(1, k);
      const Tensor lambda = torch::where(rate_k.gt(0), (c - saturated.gather(1, k)) / rate_k,
                                         torch::full_like(rate_k, inf));
      d = dir * torch::minimum(lambda, reach);
      break;
    }
    case Norm::L2: {
      // d_i = -α w_i clipped to the box: coordinate i saturates at α_i = reach_i / aw_i, and
      // between kinks the drop grows at rate Σ aw_i² over the unsaturated coordinates.
      const Tensor moving = aw.gt(0);
      const Tensor at = torch::where(moving, reach / aw, torch::full_like(aw, inf));
      const auto sorted = at.sort(1);
      const Tensor s = std::get<0>(sorted), order = std::get<1>(sorted);
      const Tensor saturated = prefix_sums(gain.gather(1, order));
      const Tensor rate = suffix_sums((aw * aw).gather(1, order));
      const Tensor r = rate.slice(1, 0, dim);
      const Tensor at_kinks =
          saturated.slice(1, 0, dim) + torch::where(r.gt(0), s * r, torch::zeros_like(r));
      const Tensor k = at_kinks.lt(c).sum(1, true);
      const Tensor rate_k = rate.gather(1, k);
      const Tensor alpha = torch::where(rate_k.gt(0), (c - saturated.gather(1, k)) / rate_k,
                                        torch::full_like(rate_k, inf));
      d = dir * torch::where(moving, torch::minimum(alpha * aw, reach), zero);
      break;
    }
    case Norm::L1: {
      // A linear programme solved greedily: the largest |w_i| buy the most drop per unit of
      // L1 norm, so they move all the way first, and one coordinate moves part of the way.
      const Tensor order = aw.argsort(1, /*descending=*/true);
      const Tensor ws = aw.gather(1, order);
      const Tensor before = prefix_sums(gain.gather(1, order));
      const Tensor k = before.slice(1, 1).lt(c).sum(1, true).clamp_max(dim - 1);
      const Tensor w_k = ws.gather(1, k);
      const Tensor amount =
          torch::where(w_k.gt(0), (c - before.gather(1, k)) / w_k, torch::zeros_like(w_k));
      const Tensor positions =
          torch::arange(dim, order.options()).unsqueeze(0).expand_as(order).contiguous();
      const Tensor rank = torch::empty_like(order).scatter_(1, order, positions);
      d = torch::where(rank.lt(k), room,
                       torch::where(rank.eq(k), dir * torch::minimum(amount, reach), zero));
      break;
    }
  }
  return torch::where(feasible, d, room);
}

Fab::Fab(FabOptions options) : options_(options) {
  const auto& o = options_;
  check_threat(o.threat);
  ADVTK_CHECK(o.steps >= 1, "--steps: expected at least 1, got ", o.steps);
  ADVTK_CHECK(o.restarts >= 1, "--restarts: expected at least 1, got ", o.restarts);
  ADVTK_CHECK(o.alpha_max >= 0 && o.alpha_max <= 1, "--alpha-max: expected a value in [0, 1], got ",
              o.alpha_max);
  ADVTK_CHECK(o.eta >= 1 && std::isfinite(o.eta), "--eta: expected an overshoot >= 1, got ", o.eta);
  ADVTK_CHECK(o.beta > 0 && o.beta <= 1, "--beta: expected a value in (0, 1], got ", o.beta);
  ADVTK_CHECK(o.target_classes >= 1, "--target-classes: expected at least 1, got ",
              o.target_classes);
  ADVTK_CHECK(o.final_search_steps >= 0, "--final-search-steps: expected >= 0, got ",
              o.final_search_steps);
}

nlohmann::json Fab::parameters() const {
  const auto& o = options_;
  return {{"attack", name()},
          {"norm", norm_name(o.threat.norm)},
          {"eps", o.threat.eps},
          {"steps", o.steps},
          {"restarts", o.restarts},
          {"alpha_max", o.alpha_max},
          {"eta", o.eta},
          {"beta", o.beta},
          {"targeted", o.targeted},
          {"target_classes", o.target_classes},
          {"final_search_steps", o.final_search_steps},
          {"seed", o.seed}};
}

AttackResult Fab::run(const Model& model, const AttackBatch& batch) {
  const auto& o = options_;
  const ThreatModel& tm = o.threat;
  AttackResult result = initial_result(batch);
  Tensor clean_logits;
  {
    torch::NoGradGuard no_grad;
    clean_logits = model.logits(batch.x);
  }
  result.forward_calls += 1;
  const Tensor clean_pred = clean_logits.argmax(1);
  const int64_t k = clean_logits.size(1);
  // Examples adversarial at x need no search; the others join `done` once broken within eps.
  Tensor done = is_adversarial_pred(clean_pred, batch.y, batch.target);
  // A point found inside a run (another batch composition) must hold up in a fresh pass
  // before the example's remaining targets are skipped: `found` [m] marks the points `points`
  // of `sub` (rows `rows` of the batch) to check; returns which of them held up.
  const auto confirmed = [&](const Tensor& found, const Tensor& points, const AttackBatch& sub,
                             const Tensor& rows) {
    const Tensor at = found.nonzero().squeeze(1);
    Tensor held = torch::zeros_like(found);
    if (at.numel() == 0) return held;
    const Tensor checked = rows.index_select(0, at);
    result.forward_calls.index_add_(0, checked, torch::ones_like(checked));
    const AttackBatch mine = select_examples(sub, at);
    held.index_copy_(
        0, at, judge_points(model, points.index_select(0, at), mine.y, mine.target).adversarial);
    return held;
  };

  // Each run linearises the boundaries between the class it leaves and `classes`: all other
  // classes, or one target.
  std::vector<Tensor> class_sets;
  if (batch.target.defined()) {
    class_sets.push_back(batch.target.unsqueeze(1));
  } else if (o.targeted) {
    const Tensor ranked = clean_logits.argsort(1, /*descending=*/true);
    for (int64_t r = 1; r <= std::min(o.target_classes, k - 1); ++r)
      class_sets.push_back(ranked.slice(1, r, r + 1));
  } else if (k >= 2) {
    const Tensor offsets = torch::arange(1, k, clean_pred.options()).unsqueeze(0);
    class_sets.push_back((batch.y.unsqueeze(1) + offsets).remainder(k));
  }

  // With no budget nothing new can succeed.
  if (tm.eps > 0 && o.batch_targets && o.restarts == 1 && class_sets.size() > 1) {
    // Every row of fab_run is independent of the others, so a stacked run gives each (target,
    // example) pair exactly its own sequential run. Targets are stacked in consecutive groups of
    // at most `stack_rows` rows: few examples gain most (per-call overhead), while a large
    // stack only runs slower (out of cache) and wastes work on examples an earlier target breaks.
    const int64_t sets = static_cast<int64_t>(class_sets.size());
    for (int64_t first_set = 0; first_set < sets;) {
      const Tensor pending = (~done).nonzero().squeeze(1);
      const int64_t m = pending.numel();
      if (m == 0) break;
      const int64_t group = std::clamp<int64_t>(o.stack_rows / m, 1, sets - first_set);
      const AttackBatch sub = select_examples(batch, pending);
      AttackBatch stacked;
      std::vector<int64_t> reps(sub.x.dim(), 1);
      reps[0] = group;
      stacked.x = sub.x.repeat(reps);
      stacked.y = sub.y.repeat({group});
      stacked.index = sub.index.repeat({group});
      std::vector<Tensor> classes;
      for (int64_t g = 0; g < group; ++g)
        classes.push_back(class_sets[first_set + g].index_select(0, pending));
      const RunOutput out = fab_run(model, o, stacked, stacked.y, torch::cat(classes), stacked.x,
                                    ActiveSet(pending.repeat({group})), result);
      const Tensor ok = out.distance.le(tm.eps).view({group, m});
      // The earliest target that succeeded: rank the sets so that earlier ones score higher.
      const Tensor rank = torch::arange(group, 0, -1, pending.options()).unsqueeze(1);
      const Tensor first = (ok.to(torch::kLong) * rank).argmax(0);
      const Tensor chosen = out.x_adv.view({group, m, -1})
                                .index({first, torch::arange(m, pending.options())})
                                .view_as(sub.x);
      const Tensor found = ok.any(0);
      const ActiveSet active(pending);
      active.write_where(result.x_adv, found, chosen);
      active.write(done, confirmed(found, chosen, sub, pending));
      first_set += group;
    }
  } else if (tm.eps > 0) {
    for (size_t set = 0; set < class_sets.size(); ++set) {
      for (int64_t restart = 0; restart < o.restarts; ++restart) {
        const ActiveSet active((~done).nonzero().squeeze(1));
        if (active.size() == 0) break;
        const Tensor& idx = active.rows();
        const AttackBatch sub = select_examples(batch, idx);
        Tensor x1 = sub.x;
        if (restart > 0) {
          auto gens = example_generators(
              o.seed, sub.index,
              family_stream(StreamFamily::Fab, static_cast<uint64_t>(set) * o.restarts + restart));
          x1 = restart_start(tm, sub.x, gens);
        }
        // A user's target must win over every class, so its runs leave whichever class is
        // strongest at each step; elsewhere y is left, as in the reference.
        const Tensor leave = batch.target.defined() ? Tensor() : sub.y;
        const RunOutput out =
            fab_run(model, o, sub, leave, active.select(class_sets[set]), x1, active, result);
        const Tensor ok = out.distance.le(tm.eps);
        active.write_where(result.x_adv, ok, out.x_adv);
        active.write(done, confirmed(ok, out.x_adv, sub, idx));
      }
    }
  }

  // Success is decided on the returned points themselves.
  Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model.logits(result.x_adv);
  }
  result.forward_calls += 1;
  result.pred = logits.argmax(1);
  result.distance = distance(tm.norm, result.x_adv, batch.x);
  result.success =
      is_adversarial_pred(result.pred, batch.y, batch.target) & result.distance.le(tm.eps);
  return result;
}

AttackInfo fab_info(bool targeted) {
  std::vector<OptionSpec> options = {steps_option(100), restarts_option()};
  if (targeted) options.push_back(target_classes_option());
  AttackInfo info;
  info.name = targeted ? "fab-t" : "fab";
  info.description =
      targeted ? "FAB towards the 9 most likely other classes (Croce & Hein 2020)"
               : "fast adaptive boundary attack, minimal perturbations within eps (Croce & "
                 "Hein 2020)";
  info.norms = {Norm::Linf, Norm::L2, Norm::L1};
  info.options = options;
  info.make = [targeted](const AttackSetup& s, const OptionValues& v) {
    FabOptions o;
    o.threat = s.threat;
    o.steps = v.integer("steps");
    o.restarts = v.integer("restarts");
    o.targeted = targeted;
    if (targeted) o.target_classes = v.integer("target-classes");
    o.seed = s.seed;
    return std::unique_ptr<Attack>(std::make_unique<Fab>(o));
  };
  return info;
}

}  // namespace advtk
