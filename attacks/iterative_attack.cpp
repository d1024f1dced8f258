#include "attacks/iterative_attack.h"

#include <cmath>
#include <limits>

#include "attacks/active_set.h"
#include "attacks/loss_gradient.h"
#include "attacks/step_policy.h"
#include "core/error.h"
#include "eval/prediction.h"

namespace advtk {

IterativeGradientAttack::IterativeGradientAttack(IterativeAttackOptions options)
    : options_(std::move(options)) {
  const auto& o = options_;
  check_threat(o.threat);
  ADVTK_CHECK(o.steps >= 1, "--steps: expected at least 1, got ", o.steps);
  ADVTK_CHECK(o.restarts >= 1, "--restarts: expected at least 1, got ", o.restarts);
  ADVTK_CHECK(o.eot >= 1, "--eot: expected at least 1 pass, got ", o.eot);
  ADVTK_CHECK(o.smoothing_samples >= 0, "smoothing samples: expected >= 0");
  ADVTK_CHECK(o.smoothing_samples == 0 || o.eot == 1, "--eot and smoothed gradients: pick one");
  ADVTK_CHECK(o.l1_sparsity > 0 && o.l1_sparsity <= 1, "--l1-sparsity: expected a value in (0, 1]");
  ADVTK_CHECK(std::isfinite(o.momentum) && o.momentum >= 0, "--momentum: expected >= 0, got ",
              o.momentum);
  if (options_.step_size <= 0)
    options_.step_size = 2.5 * o.threat.eps / static_cast<double>(o.steps);
  if (options_.start_radius <= 0)
    options_.start_radius = o.start == StartKind::Gaussian ? 1e-3 : o.threat.eps / 2;
}

nlohmann::json IterativeGradientAttack::parameters() const {
  const auto& o = options_;
  nlohmann::json j = {{"attack", o.name},
                      {"norm", norm_name(o.threat.norm)},
                      {"eps", o.threat.eps},
                      {"steps", o.steps},
                      {"step_size", o.step_size},
                      {"restarts", o.restarts},
                      {"loss", loss_name(o.loss.kind)},
                      {"early_stop", o.early_stop},
                      {"eot", o.eot},
                      {"smoothing_samples", o.smoothing_samples},
                      {"seed", o.seed}};
  j["random_start"] = o.start == StartKind::None          ? "none"
                      : o.start == StartKind::UniformBall ? "uniform"
                      : o.start == StartKind::RandomSign  ? "random-sign"
                                                          : "gaussian";
  if (o.start == StartKind::RandomSign || o.start == StartKind::Gaussian)
    j["start_radius"] = o.start_radius;
  if (o.loss.kind == LossKind::Margin && std::isfinite(o.loss.confidence))
    j["confidence"] = o.loss.confidence;
  if (o.threat.norm == Norm::L1) j["l1_sparsity"] = o.l1_sparsity;
  if (o.momentum > 0) j["momentum"] = o.momentum;
  return j;
}

AttackResult IterativeGradientAttack::run(const Model& model, const AttackBatch& given) {
  const auto& o = options_;
  AttackBatch batch = given;
  bool reference_pass = false;
  if (o.loss.kind == LossKind::Kl) {
    ADVTK_CHECK(!batch.target.defined(), "--loss kl is untargeted: drop --target");
    if (!batch.reference_logits.defined()) {
      torch::NoGradGuard no_grad;
      batch.reference_logits = model.logits(batch.x);
      reference_pass = true;
    }
  }
  const int64_t n = batch.x.size(0);
  const auto dev = batch.x.device();
  AttackResult best = initial_result(batch);
  if (reference_pass) best.forward_calls += 1;
  // Never worse than clean: a random start may land on a correctly classified point, so an
  // example already adversarial at x starts as a success with x (with early stopping it then
  // leaves at once). The caller's clean prediction is used when given; the maximum-loss mode
  // (training) without one keeps its iterates only. With EOT (a randomised model) one pass does
  // not decide, and an example stopped by a lucky one would go unattacked: it is attacked.
  if (o.start != StartKind::None && o.threat.eps > 0 && o.steps > 0 && o.eot == 1 &&
      (batch.clean_pred.defined() || o.early_stop)) {
    torch::Tensor clean_pred = batch.clean_pred;
    if (!clean_pred.defined()) {
      torch::NoGradGuard no_grad;
      clean_pred = predicted_class(reference_pass ? batch.reference_logits : model.logits(batch.x));
      if (!reference_pass) best.forward_calls += 1;
    }
    best.success = is_adversarial_pred(clean_pred, batch.y, batch.target);
    best.pred = clean_pred.clone();
  }
  torch::Tensor best_loss =
      torch::full({n}, -std::numeric_limits<float>::infinity(), batch.x.options());
  const torch::Tensor all =
      torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(dev));
  const torch::Tensor alpha = torch::tensor(o.step_size, batch.x.options());
  // With no budget every step is a no-op: evaluate x once.
  const int64_t steps = o.threat.eps > 0 ? o.steps : 0;
  const int64_t restarts = o.threat.eps > 0 && o.start != StartKind::None ? o.restarts : 1;

  for (int64_t restart = 0; restart < restarts; ++restart) {
    const torch::Tensor start_rows = o.early_stop ? (~best.success).nonzero().squeeze(1) : all;
    if (start_rows.numel() == 0) break;
    ActiveSet active(start_rows);
    const torch::Tensor& idx = active.rows();
    AttackBatch sub = select_examples(batch, idx);
    torch::Tensor x_cur = sub.x;
    active.carry(sub);
    active.carry(x_cur);
    if (steps > 0 && o.start != StartKind::None) {
      auto gens = example_generators(
          o.seed, sub.index, family_stream(StreamFamily::Pgd, static_cast<uint64_t>(restart)));
      if (o.start == StartKind::UniformBall) {
        x_cur = random_start(o.threat, sub.x, gens);
      } else if (o.start == StartKind::Gaussian) {
        x_cur = project(o.threat, sub.x + o.start_radius * example_gaussian(gens, sub.x), sub.x);
      } else {
        const torch::Tensor dir = example_gaussian(gens, sub.x);
        const torch::Tensor radius = torch::tensor(o.start_radius, sub.x.options());
        x_cur = project(o.threat, sub.x + steepest_step(o.threat.norm, dir, radius, o.l1_sparsity),
                        sub.x);
      }
    }
    std::unique_ptr<StepPolicy> policy;
    if (o.momentum > 0) {
      policy =
          std::make_unique<MomentumAscent>(o.threat.norm, alpha, o.l1_sparsity, o.momentum, x_cur);
    } else {
      policy = std::make_unique<SteepestAscent>(o.threat.norm, alpha, o.l1_sparsity);
    }
    policy->carry(active);
    for (int64_t t = 0; t <= steps; ++t) {
      const bool last = t == steps;
      const torch::Tensor xi = x_cur.detach();
      const auto loss_fn = [&](const torch::Tensor& z) {
        return attack_loss(o.loss, z, sub.y, sub.target, sub.reference_logits);
      };
      LossGradient lg;
      if (last) {
        torch::NoGradGuard no_grad;
        lg.logits = model.logits(xi);
        lg.loss = loss_fn(lg.logits);
      } else if (o.smoothing_samples > 0) {
        const double sigma = o.smoothing_sigma > 0 ? o.smoothing_sigma : o.threat.eps / 4;
        auto gens = example_generators(
            o.seed, sub.index,
            family_stream(StreamFamily::Pgd,
                          (uint64_t{1} << 32) + static_cast<uint64_t>(restart * (steps + 1) + t)));
        lg = smoothed_loss_gradient(model, xi, loss_fn, o.smoothing_samples, sigma, gens);
      } else {
        lg = loss_gradient(model, xi, loss_fn, o.eot);
      }
      const int64_t passes = last                      ? 1
                             : o.smoothing_samples > 0 ? 2 * o.smoothing_samples + 1
                                                       : o.eot;
      best.forward_calls.index_add_(0, idx, torch::full_like(idx, passes));
      const torch::Tensor pred = lg.logits.argmax(1);
      const torch::Tensor success = is_adversarial_pred(pred, sub.y, sub.target);
      const torch::Tensor loss_now = lg.loss;
      const torch::Tensor old_success = best.success.index_select(0, idx);
      const torch::Tensor old_loss = best_loss.index_select(0, idx);
      // First success wins; otherwise the higher loss among iterates of the same standing.
      const torch::Tensor improve =
          (success & ~old_success) | (success.eq(old_success) & loss_now.gt(old_loss));
      update_rows(best.x_adv, idx, improve, xi);
      update_rows(best_loss, idx, improve, loss_now);
      update_rows(best.pred, idx, improve, pred);
      best.success.index_copy_(0, idx, old_success | success);
      if (last) break;

      torch::Tensor grad = lg.grad;
      if (o.threat.norm == Norm::L1) {
        // The sparse L1 step spends its budget on few coordinates: leave out those the box blocks
        // (at lo with the gradient pointing down, at hi pointing up), or the step can vanish.
        const torch::Tensor blocked =
            (xi.le(o.threat.lo) & grad.lt(0)) | (xi.ge(o.threat.hi) & grad.gt(0));
        grad = grad.masked_fill(blocked, 0);
      }
      if (o.smoothing_samples == 0)
        best.backward_calls.index_add_(0, idx, torch::full_like(idx, o.eot));
      x_cur = project(o.threat, policy->next(xi, grad, t + 1), sub.x);
      if (o.early_stop && !active.keep(~success)) break;  // the one sync per step
    }
  }
  best.distance = distance(o.threat.norm, best.x_adv, batch.x);
  return best;
}

std::unique_ptr<Attack> make_fgsm(const ThreatModel& threat, LossSpec loss, int64_t eot) {
  IterativeAttackOptions o;
  o.eot = eot;
  o.threat = threat;
  o.steps = 1;
  o.step_size = threat.eps;
  o.start = StartKind::None;
  o.loss = loss;
  o.name = threat.norm == Norm::Linf ? "fgsm" : "fgm";
  return std::make_unique<IterativeGradientAttack>(o);
}

std::unique_ptr<Attack> make_rfgsm(const ThreatModel& threat, uint64_t seed, LossSpec loss,
                                   int64_t eot) {
  IterativeAttackOptions o;
  o.eot = eot;
  o.threat = threat;
  o.steps = 1;
  o.start = StartKind::RandomSign;
  o.start_radius = threat.eps / 2;
  o.step_size = threat.eps - o.start_radius;
  o.loss = loss;
  o.seed = seed;
  o.name = "rfgsm";
  return std::make_unique<IterativeGradientAttack>(o);
}

std::unique_ptr<Attack> make_pgd(IterativeAttackOptions options) {
  return std::make_unique<IterativeGradientAttack>(std::move(options));
}

namespace {

const std::vector<std::string> kIterativeLosses = {"ce", "margin", "cw", "dlr", "kl"};

std::vector<OptionSpec> one_step_options() {
  return {loss_option("ce", kIterativeLosses), confidence_option(std::nullopt), eot_option()};
}

// fgsm and fgm: one steepest step of size ε from x, in their norms.
AttackInfo one_step_info(const std::string& name, const std::string& description,
                         std::vector<Norm> norms) {
  AttackInfo info;
  info.name = name;
  info.description = description;
  info.norms = std::move(norms);
  info.supports_eot = true;
  info.options = one_step_options();
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    return make_fgsm(s.threat, loss_of(v), v.integer("eot"));
  };
  return info;
}

AttackInfo iterative_info(const std::string& name, const std::string& description,
                          const std::string& loss) {
  OptionSpec step_size = real_option("step-size", std::nullopt, 0,
                                     std::numeric_limits<double>::infinity(), "step size", true);
  step_size.auto_default = "2.5*eps/steps";
  AttackInfo info;
  info.name = name;
  info.description = description;
  info.norms = {Norm::Linf, Norm::L2, Norm::L1};
  info.supports_eot = true;
  info.options = {steps_option(40),
                  step_size,
                  restarts_option(),
                  loss_option(loss, kIterativeLosses),
                  confidence_option(std::nullopt),
                  early_stop_option(),
                  real_option("l1-sparsity", 0.01, 0, 1,
                              "L1 steps: the fraction of coordinates each step moves", true),
                  eot_option()};
  info.make = [name](const AttackSetup& s, const OptionValues& v) {
    IterativeAttackOptions o;
    o.threat = s.threat;
    o.steps = v.integer("steps");
    o.step_size = v.maybe_real("step-size").value_or(-1);
    o.restarts = v.integer("restarts");
    o.loss = loss_of(v);
    o.early_stop = v.flag("early-stop");
    o.seed = s.seed;
    o.l1_sparsity = v.real("l1-sparsity");
    o.eot = v.integer("eot");
    o.name = name;
    return make_pgd(o);
  };
  return info;
}

}  // namespace

AttackInfo mi_fgsm_info() {
  OptionSpec step_size = real_option("step-size", std::nullopt, 0,
                                     std::numeric_limits<double>::infinity(), "step size", true);
  step_size.auto_default = "eps/steps";
  AttackInfo info;
  info.name = "mi-fgsm";
  info.description =
      "momentum iterative FGSM: 10 steps of eps/10 along the accumulated gradient, decay 1 "
      "(Dong et al. 2018)";
  info.norms = {Norm::Linf, Norm::L2};
  info.supports_eot = true;
  info.options = {steps_option(10),
                  step_size,
                  real_option("momentum", 1.0, 0, std::numeric_limits<double>::infinity(),
                              "decay of the accumulated gradient (mu)"),
                  loss_option("ce", kIterativeLosses),
                  confidence_option(std::nullopt),
                  early_stop_option(),
                  eot_option()};
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    IterativeAttackOptions o;
    o.threat = s.threat;
    o.steps = v.integer("steps");
    o.step_size = v.maybe_real("step-size").value_or(s.threat.eps / static_cast<double>(o.steps));
    o.start = StartKind::None;
    o.momentum = v.real("momentum");
    o.loss = loss_of(v);
    o.early_stop = v.flag("early-stop");
    o.seed = s.seed;
    o.eot = v.integer("eot");
    o.name = "mi-fgsm";
    return make_pgd(o);
  };
  return info;
}

AttackInfo fgsm_info() {
  return one_step_info("fgsm", "one gradient-sign step of size eps (Goodfellow et al. 2015)",
                       {Norm::Linf});
}

AttackInfo fgm_info() {
  return one_step_info("fgm", "one normalised-gradient step of size eps, FGSM for L2/L1",
                       {Norm::L2, Norm::L1});
}

AttackInfo rfgsm_info() {
  AttackInfo info;
  info.name = "rfgsm";
  info.description =
      "random-sign step of eps/2, then a gradient step of eps/2 (Tramer et al. 2018)";
  info.norms = {Norm::Linf, Norm::L2};
  info.supports_eot = true;
  info.options = one_step_options();
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    return make_rfgsm(s.threat, s.seed, loss_of(v), v.integer("eot"));
  };
  return info;
}

AttackInfo pgd_info() {
  return iterative_info(
      "pgd",
      "projected gradient descent, random start, 40 steps of 2.5*eps/steps (Madry et al. 2018)",
      "ce");
}

AttackInfo cw_linf_info() {
  return iterative_info(
      "cw-linf", "PGD with the Carlini-Wagner margin loss (Carlini & Wagner 2017)", "margin");
}

}  // namespace advtk
