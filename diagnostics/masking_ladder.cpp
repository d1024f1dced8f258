#include "diagnostics/masking_ladder.h"

#include <cstdio>

#include "attacks/iterative_attack.h"
#include "attacks/square.h"
#include "core/error.h"
#include "core/percent.h"
#include "core/seeding.h"
#include "diagnostics/masking_indicators.h"
#include "diagnostics/straight_through.h"

namespace advtk {
namespace {

// A model the ladder does not own (the caller's BPDA view or surrogate).
std::shared_ptr<const Model> borrowed(const Model* m) {
  return m == nullptr ? nullptr : std::shared_ptr<const Model>(m, [](const Model*) {});
}

MakeAttack smoothed_pgd(const MaskingOptions& o, double sigma_over_eps, uint64_t salt) {
  return [o, sigma_over_eps, salt](double e) {
    IterativeAttackOptions a;
    a.threat = o.threat;
    a.threat.eps = e;
    a.steps = o.pgd_steps;
    a.loss.kind = LossKind::Margin;
    a.smoothing_samples = 20;
    a.smoothing_sigma = sigma_over_eps * e;
    a.seed = mix_seed(o.seed, salt);
    return make_pgd(a);
  };
}

MakeAttack square(const MaskingOptions& o, int64_t queries, uint64_t seed) {
  return [o, queries, seed](double e) -> std::unique_ptr<Attack> {
    SquareOptions s;
    s.threat = o.threat;
    s.threat.eps = e;
    s.queries = queries;
    s.seed = seed;
    return std::make_unique<SquareAttack>(s);
  };
}

}  // namespace

Ladder build_ladder(const Model& model, const MaskingOptions& o, const LadderFacts& f) {
  Ladder ladder;
  const std::string pgd = o.threat.norm == Norm::L1 ? "apgd" : "pgd";
  const bool gradients_dead = f.zero_gradient_fraction >= kZeroGradientSkip;
  const std::string dead_reason = "the input gradient of every loss is zero at " +
                                  percent(f.zero_gradient_fraction) +
                                  " of the points: gradient steps cannot move";
  const auto add = [&](const std::string& step, const std::string& attack, MakeAttack make,
                       std::shared_ptr<const Model> on = nullptr, bool changed_loss = false,
                       bool needs_gradient = true) {
    if (needs_gradient && gradients_dead && on == nullptr) {
      ladder.skipped.push_back({step, attack, dead_reason});
      return;
    }
    ladder.rungs.push_back({step, attack, std::move(on), std::move(make), changed_loss});
  };
  const int64_t apgd_steps = o.apgd_steps, pgd_steps = o.pgd_steps;

  add(
      "R1", pgd + " --loss margin",
      [o, pgd_steps](double e) {
        return masking_pgd(o, e, LossKind::Margin, pgd_steps, 1, 1, kSaltMarginRetry);
      },
      nullptr, true);
  const bool dlr = f.classes >= 3;
  const std::string no_dlr =
      "the DLR loss needs at least 3 classes, the model has " + std::to_string(f.classes);
  if (dlr) {
    add(
        "R1", "apgd --loss dlr",
        [o, apgd_steps](double e) {
          return masking_apgd(o, e, LossKind::Dlr, false, apgd_steps, 1, 1);
        },
        nullptr, true);
  } else {
    ladder.skipped.push_back({"R1", "apgd --loss dlr", no_dlr});
  }
  if (f.classes >= 4) {
    add(
        "R1", "apgd-t",
        [o, apgd_steps](double e) {
          return masking_apgd(o, e, LossKind::Dlr, true, apgd_steps, 1, 1);
        },
        nullptr, true);
  } else {
    ladder.skipped.push_back({"R1", "apgd-t",
                              "the targeted DLR loss needs at least 4 classes, the model has " +
                                  std::to_string(f.classes)});
  }
  if (f.randomised) {
    const int64_t k = o.eot_samples > 0 ? o.eot_samples : std::max<int64_t>(f.eot_samples, 20);
    add("R2", "apgd --eot " + std::to_string(k), [o, apgd_steps, k](double e) {
      return masking_apgd(o, e, LossKind::CrossEntropy, false, apgd_steps, 1, k);
    });
    add("R2", pgd + " --loss margin --eot " + std::to_string(k), [o, pgd_steps, k](double e) {
      return masking_pgd(o, e, LossKind::Margin, pgd_steps, 1, k);
    });
  }

  // R3: BPDA through the given preprocessing, or through a copy of the model (and its
  // preprocessing) whose zero-derivative operations pass the gradient straight through.
  std::shared_ptr<const Model> bpda = borrowed(o.bpda_model);
  std::string bpda_name = "bpda";
  if (bpda == nullptr) {
    try {
      StraightThrough st = straight_through_copy(model.module());
      int64_t ops = st.rewritten;
      std::vector<std::string> blocked = st.blocked;
      ModelOptions options = model.options();
      if (options.preprocess) {
        StraightThrough front = straight_through_copy(*options.preprocess);
        ops += front.rewritten;
        blocked.insert(blocked.end(), front.blocked.begin(), front.blocked.end());
        options.preprocess = front.module;
      }
      std::string left;
      for (const std::string& b : blocked) left += (left.empty() ? "" : "; ") + b;
      if (ops > 0) {
        bpda = std::make_shared<const Model>(
            Model::wrap(st.module, options, model.name() + " (straight-through)"));
        bpda_name = "bpda (straight-through rewrite of " + std::to_string(ops) + " ops)";
        if (!left.empty()) ladder.bpda_blocked = "left without a surrogate gradient: " + left;
      } else {
        // Nothing to rewrite is no BPDA to miss; what could not be rewritten is said.
        if (!left.empty()) ladder.bpda_blocked = "no operation could be rewritten: " + left;
      }
    } catch (const Error& e) {
      ladder.bpda_blocked = e.what();  // R3 needs --preprocess then
    }
  }
  if (bpda != nullptr) {
    const int64_t k = f.randomised ? 20 : 1;
    add(
        "R3", bpda_name + " " + pgd,
        [o, pgd_steps, k](double e) {
          return masking_pgd(o, e, LossKind::CrossEntropy, pgd_steps, 1, k);
        },
        bpda);
    if (dlr) {
      add(
          "R3", bpda_name + " apgd --loss dlr",
          [o, apgd_steps, k](double e) {
            return masking_apgd(o, e, LossKind::Dlr, false, apgd_steps, 1, k);
          },
          bpda);
    }
  }

  // R4: where autograd's gradient is broken or explodes, the gradient of the Gaussian-smoothed
  // loss, estimated from loss values alone; exploding gradients get a second, finer scale.
  if (f.gradient_trouble || f.exploding) {
    add("R4", "pgd --loss margin, smoothed gradients (20 antithetic pairs, sigma eps/4)",
        smoothed_pgd(o, 0.25, 4), nullptr, false, false);
  }
  if (f.exploding) {
    add("R4", "pgd --loss margin, smoothed gradients (20 antithetic pairs, sigma eps/16)",
        smoothed_pgd(o, 1.0 / 16, 6), nullptr, false, false);
  }
  add("R5", pgd + " --steps " + std::to_string(4 * pgd_steps) + " --restarts 5",
      [o, pgd_steps](double e) {
        return masking_pgd(o, e, LossKind::CrossEntropy, 4 * pgd_steps, 5, 1, kSaltLadderRestarts);
      });
  add("R6", "square --queries " + std::to_string(2 * o.square_queries),
      square(o, 2 * o.square_queries, mix_seed(o.seed, 7)), nullptr, false, false);
  if (o.surrogate != nullptr) {
    add(
        "R6", "transfer " + pgd + " from the surrogate",
        [o](double e) { return masking_transfer_pgd(o, e); }, borrowed(o.surrogate), false, false);
  }
  return ladder;
}

}  // namespace advtk
