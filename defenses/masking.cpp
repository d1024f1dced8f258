#include "defenses/masking.h"

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "attacks/iterative_attack.h"
#include "attacks/square.h"
#include "core/error.h"
#include "core/seeding.h"
#include "defenses/masking_indicators.h"
#include "defenses/straight_through.h"

namespace advtk {
namespace {

std::string percent(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.1f%%", 100 * v);
  return s;
}

// The adaptive ladder: each retry attacks the points still robust and reports the accuracy
// before and after; a point is robust only while every attack so far failed on it.
class Ladder {
 public:
  Ladder(const MaskingContext& c, torch::Tensor broken) : c_(c), broken_(std::move(broken)) {
    found_x_ = torch::zeros_like(c.x);
  }

  void retry(const std::string& step, const std::string& what, const Model& attacked,
             const MakeAttack& make, const MaskingProgress& progress) {
    const torch::Tensor left = (~broken_).nonzero().squeeze(1);
    Retry r;
    r.step = step;
    r.attack = what;
    r.accuracy_before = accuracy();
    if (left.numel() > 0) {
      if (progress) progress(step + ": " + what);
      const Dataset rest = rows_of(c_.points, left);
      // Crafted on `attacked` (e.g. the BPDA view), judged on the model itself.
      Outcome o = attack_points(attacked, rest, make, c_.options.threat.eps, 1,
                                c_.options.batch_size, c_.options.seed);
      o.broken =
          majority_misclassified(*c_.model, o.x_adv, rest.labels, c_.passes, c_.options.batch_size);
      r.seconds = o.seconds;
      const torch::Tensor newly = left.index_select(0, o.broken.nonzero().squeeze(1));
      r.broken = newly.numel();
      if (newly.numel() > 0) {
        broken_.index_fill_(0, newly, true);
        found_x_.index_copy_(0, newly, o.x_adv.index_select(0, o.broken.nonzero().squeeze(1)));
        found_.index_fill_(0, newly, true);
      }
    }
    r.accuracy_after = accuracy();
    retries_.push_back(r);
  }

  double accuracy() const { return 1.0 - broken_.to(torch::kDouble).mean().item<double>(); }
  const std::vector<Retry>& retries() const { return retries_; }
  const torch::Tensor& found() const { return found_; }
  const torch::Tensor& found_x() const { return found_x_; }
  void start_found() { found_ = torch::zeros_like(broken_); }

 private:
  const MaskingContext& c_;
  torch::Tensor broken_, found_, found_x_;
  std::vector<Retry> retries_;
};

std::unique_ptr<Attack> apgd(const MaskingContext& c, double eps, LossKind loss, bool targeted,
                             int64_t eot) {
  return masking_apgd(c, eps, loss, targeted, c.options.apgd_steps, 1, eot);
}

}  // namespace

std::string verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Masked:
      return "masked";
    case Verdict::Suspect:
      return "suspect";
    case Verdict::NoEvidence:
      return "no-evidence";
  }
  return "?";
}

bool counts_as_difference(int64_t diff, int64_t points) {
  return diff >= 2 && static_cast<double>(diff) > 0.002 * static_cast<double>(points);
}

MaskingReport detect_masking(const Model& model, const Dataset& data, const MaskingOptions& o,
                             const MaskingProgress& progress) {
  const auto started = std::chrono::steady_clock::now();
  // A randomised model draws from torch's global generator: seeded, the report repeats.
  torch::manual_seed(o.seed);
  check_threat(o.threat);
  ADVTK_CHECK(o.threat.eps > 0, "--eps: the masking check needs a budget > 0");
  ADVTK_CHECK(o.points >= 1 && o.expensive_points >= 1, "--points: expected at least 1");
  ADVTK_CHECK(o.pgd_steps >= 1 && o.apgd_steps >= 1 && o.square_queries >= 1 && o.noise_draws >= 1,
              "--pgd-steps, --apgd-steps, --queries and --noise-draws: expected at least 1");
  ADVTK_CHECK(o.vote_passes >= 1 && o.vote_passes % 2 == 1,
              "--vote-passes: expected an odd number >= 1, got ", o.vote_passes);
  MaskingReport report;
  std::string stage;
  auto stage_started = started;
  const auto say = [&](const std::string& s) {
    const auto now = std::chrono::steady_clock::now();
    if (!stage.empty())
      report.stage_seconds.emplace_back(stage,
                                        std::chrono::duration<double>(now - stage_started).count());
    stage = s;
    stage_started = now;
    if (progress && !s.empty()) progress(s);
  };
  MaskingContext c;
  c.model = &model;
  c.options = o;

  // Randomness first: it decides how points are judged (majority vote) from then on.
  say("finding clean-correct points");
  Points pts = clean_correct_points(model, data, o.points, o.vote_passes, o.batch_size);
  c.points = pts.data;
  c.x = model.from_unit_range(c.points.images);
  c.y = c.points.labels;
  const int64_t n = c.points.size();
  c.expensive = rows_of(c.points, torch::arange(std::min(n, o.expensive_points)));
  c.classes = batched_logits(model, c.x.slice(0, 0, 1), 1).size(1);
  report.examples_seen = pts.seen;
  report.points = n;
  report.clean_accuracy = pts.clean_accuracy;

  int64_t eot_samples = 1;
  say("4 randomness");
  Indicator randomness = check_randomness(c, eot_samples);
  report.randomised = randomness.fired;
  say("1 broken graph");
  report.indicators.push_back(check_broken_graph(c));
  say("2 zero gradients");
  report.indicators.push_back(check_zero_gradients(c));
  say("3 probability output");
  report.indicators.push_back(check_probability_output(c));
  report.indicators.push_back(randomness);
  say("5 shattered gradients");
  report.indicators.push_back(check_shattered_gradients(c));
  say("6 unstable predictions");
  report.indicators.push_back(check_unstable_predictions(c));

  const double eps = o.threat.eps;
  const auto run = [&](const Dataset& on, const MakeAttack& make, uint64_t seed = 0) {
    return attack_points(model, on, make, eps, c.passes, o.batch_size, mix_seed(o.seed, seed));
  };
  // The baseline every "pgd" step below runs: PGD, or L1-APGD for L1 (see masking_pgd).
  const bool l1 = o.threat.norm == Norm::L1;
  const std::string pgd = l1 ? "apgd" : "pgd";
  const std::string baseline = l1 ? "L1-APGD" : "PGD";
  report.baseline = baseline;
  say("plain " + baseline);
  const Outcome plain = run(c.points, [&](double e) {
    return masking_pgd(c, e, LossKind::CrossEntropy, o.pgd_steps, 1, 1);
  });
  report.pgd_accuracy = 1.0 - plain.broken.to(torch::kDouble).mean().item<double>();
  say("FGSM");
  const Outcome fgsm = run(c.points, [&](double e) {
    ThreatModel t = o.threat;
    t.eps = e;
    return make_fgsm(t);
  });
  report.indicators.push_back(check_one_step_beats_iterative(c, fgsm.broken, plain.broken));

  say("APGD-CE");
  const int64_t m = c.expensive.size();
  const Outcome apgd_ce =
      run(c.expensive, [&](double e) { return apgd(c, e, LossKind::CrossEntropy, false, 1); });
  const torch::Tensor white_box = plain.broken.slice(0, 0, m) | apgd_ce.broken;
  const auto square = [&](int64_t queries, uint64_t seed) {
    return [&o, queries, seed](double e) -> std::unique_ptr<Attack> {
      SquareOptions s;
      s.threat = o.threat;
      s.threat.eps = e;
      s.queries = queries;
      s.seed = seed;
      return std::make_unique<SquareAttack>(s);
    };
  };
  say("Square");
  torch::Tensor black_box = run(c.expensive, square(o.square_queries, o.seed)).broken;
  std::string black_box_name = "Square";
  if (o.surrogate != nullptr) {
    say("transfer from the surrogate");
    const Outcome from = attack_points(
        *o.surrogate, c.expensive,
        [&](double e) { return masking_pgd(c, e, LossKind::CrossEntropy, o.pgd_steps, 1, 1); }, eps,
        1, o.batch_size, o.seed);
    black_box = black_box | majority_misclassified(model, from.x_adv, c.expensive.labels, c.passes,
                                                   o.batch_size);
    black_box_name = "Square or transfer";
  }
  report.indicators.push_back(
      check_black_box_beats_white_box(c, black_box, white_box, black_box_name));
  say("9 unbounded attack");
  report.indicators.push_back(check_unbounded_attack(c));
  say("10 budget growth");
  report.indicators.push_back(check_budget_growth(c));
  say("11 random noise");
  report.indicators.push_back(
      check_noise_beats_attacks(c, white_box | black_box | fgsm.broken.slice(0, 0, m)));
  say("12 optimisation health");
  report.indicators.push_back(check_optimisation_health(c, plain.broken));
  std::sort(report.indicators.begin(), report.indicators.end(),
            [](const Indicator& a, const Indicator& b) { return a.number < b.number; });

  // The ladder, on the points plain PGD left robust.
  Ladder ladder(c, plain.broken.clone());
  ladder.start_found();
  const auto step = [&](const std::string& name, const std::string& what, const MakeAttack& make,
                        const Model* on = nullptr) {
    say(name + " " + what);
    ladder.retry(name, what, on != nullptr ? *on : model, make, {});
  };
  step("R1", pgd + " --loss margin",
       [&](double e) { return masking_pgd(c, e, LossKind::Margin, o.pgd_steps, 1, 1); });
  step("R1", "apgd --loss dlr", [&](double e) { return apgd(c, e, LossKind::Dlr, false, 1); });
  if (c.classes >= 4)
    step("R1", "apgd-t", [&](double e) { return apgd(c, e, LossKind::Dlr, true, 1); });
  if (report.randomised) {
    const int64_t k = o.eot_samples > 0 ? o.eot_samples : std::max<int64_t>(eot_samples, 20);
    step("R2", "apgd --eot " + std::to_string(k),
         [&](double e) { return apgd(c, e, LossKind::CrossEntropy, false, k); });
    step("R2", pgd + " --loss margin --eot " + std::to_string(k),
         [&](double e) { return masking_pgd(c, e, LossKind::Margin, o.pgd_steps, 1, k); });
  }
  // R3: BPDA through the given preprocessing, or through a copy of the model (and its
  // preprocessing) whose zero-derivative operations pass the gradient straight through.
  std::optional<Model> rewritten;
  std::string bpda_name = "bpda";
  if (o.bpda_model == nullptr) {
    try {
      StraightThrough st = straight_through_copy(model.module());
      int64_t ops = st.rewritten;
      ModelOptions options = model.options();
      if (options.preprocess) {
        StraightThrough front = straight_through_copy(*options.preprocess);
        ops += front.rewritten;
        options.preprocess = front.module;
      }
      if (ops > 0) {
        rewritten = Model::wrap(st.module, options, model.name() + " (straight-through)");
        bpda_name = "bpda (straight-through rewrite of " + std::to_string(ops) + " ops)";
      }
    } catch (const Error& e) {
      // A graph that cannot be rewritten: R3 needs --preprocess then.
      spdlog::warn("R3 skipped: {}", e.what());
    }
  }
  const Model* bpda_model = o.bpda_model != nullptr ? o.bpda_model
                            : rewritten             ? &*rewritten
                                                    : nullptr;
  if (bpda_model != nullptr) {
    const int64_t k = report.randomised ? 20 : 1;
    step(
        "R3", bpda_name + " " + pgd,
        [&](double e) { return masking_pgd(c, e, LossKind::CrossEntropy, o.pgd_steps, 1, k); },
        bpda_model);
    step(
        "R3", bpda_name + " apgd --loss dlr",
        [&](double e) { return apgd(c, e, LossKind::Dlr, false, k); }, bpda_model);
  }
  // R4: where autograd's gradient is broken, the gradient of the Gaussian-smoothed loss,
  // estimated from loss values alone.
  bool gradient_trouble = false;
  for (const Indicator& i : report.indicators)
    gradient_trouble =
        gradient_trouble || (i.fired && (i.id == "broken-graph" || i.id == "zero-gradients" ||
                                         i.id == "shattered-gradients"));
  if (gradient_trouble) {
    step("R4", "pgd --loss margin, smoothed gradients (20 antithetic pairs, sigma eps/4)",
         [&](double e) {
           IterativeAttackOptions a;
           a.threat = o.threat;
           a.threat.eps = e;
           a.steps = o.pgd_steps;
           a.loss.kind = LossKind::Margin;
           a.smoothing_samples = 20;
           a.seed = mix_seed(o.seed, 4);
           return make_pgd(a);
         });
  }
  step("R5", pgd + " --steps " + std::to_string(4 * o.pgd_steps) + " --restarts 5",
       [&](double e) { return masking_pgd(c, e, LossKind::CrossEntropy, 4 * o.pgd_steps, 5, 1); });
  step("R6", "square --queries " + std::to_string(2 * o.square_queries),
       square(2 * o.square_queries, mix_seed(o.seed, 7)));
  if (o.surrogate != nullptr) {
    step(
        "R6", "transfer " + pgd + " from the surrogate",
        [&](double e) { return masking_pgd(c, e, LossKind::CrossEntropy, o.pgd_steps, 1, 1); },
        o.surrogate);
  }
  say("");
  report.retries = ladder.retries();
  report.adaptive_accuracy = ladder.accuracy();
  int64_t most = 0;
  for (const Retry& r : report.retries) {
    if (r.broken > most) {
      most = r.broken;
      report.lowered_most_by = r.step + " " + r.attack;
    }
  }
  const torch::Tensor found = ladder.found().nonzero().squeeze(1);
  report.found_index = c.points.example_ids().index_select(0, found);
  report.found_x = ladder.found_x().index_select(0, found);
  report.found_y = c.y.index_select(0, found);
  report.found_pred = predictions(model, report.found_x, o.batch_size);

  // The verdict.
  bool fired = false, unconverged = false;
  for (const Indicator& i : report.indicators) {
    fired = fired || (i.fired && i.symptom);
    unconverged = unconverged || (i.fired && !i.symptom);
  }
  const double drop = report.pgd_accuracy - report.adaptive_accuracy;
  const int64_t dropped = static_cast<int64_t>(std::llround(drop * static_cast<double>(n)));
  if (fired && drop >= 0.05 && dropped >= 10) {
    report.verdict = Verdict::Masked;
    report.message = "gradient masking: plain " + baseline + " leaves " +
                     percent(report.pgd_accuracy) + " robust, adaptive attacks " +
                     percent(report.adaptive_accuracy) + " (" + report.lowered_most_by +
                     " broke the most)";
  } else if (fired) {
    report.verdict = Verdict::Suspect;
    report.message =
        "an indicator fired but no retry broke the defense: the robustness claim is "
        "unreliable; a manual adaptive attack is required";
  } else if (unconverged) {
    report.verdict = Verdict::NoEvidence;
    report.message = "no evidence of gradient masking, but plain " + baseline +
                     " has not converged (more steps or restarts break more): it leaves " +
                     percent(report.pgd_accuracy) + " robust, the adaptive attacks " +
                     percent(report.adaptive_accuracy) +
                     ", an upper bound from these attacks, not a proof of robustness";
  } else {
    report.verdict = Verdict::NoEvidence;
    report.message = "no evidence of gradient masking; robust accuracy " +
                     percent(report.adaptive_accuracy) +
                     " is an upper bound from these attacks, not a proof of robustness";
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

nlohmann::json to_json(const MaskingReport& r) {
  nlohmann::json j;
  j["verdict"] = verdict_name(r.verdict);
  j["message"] = r.message;
  j["examples_seen"] = r.examples_seen;
  j["points"] = r.points;
  j["clean_accuracy"] = r.clean_accuracy;
  j["randomised"] = r.randomised;
  j["baseline"] = r.baseline;
  j["pgd_robust_accuracy"] = r.pgd_accuracy;
  j["adaptive_robust_accuracy"] = r.adaptive_accuracy;
  j["lowered_most_by"] = r.lowered_most_by;
  j["indicators"] = nlohmann::json::array();
  for (const Indicator& i : r.indicators) {
    j["indicators"].push_back(
        {{"number", i.number},
         {"id", i.id},
         {"check", i.title},
         {"source", i.source},
         {"value", i.value},
         {"threshold", i.threshold},
         {"fired", i.fired},
         {"masking_symptom", i.fired && i.symptom},
         {"detail", i.detail},
         {"examples", i.examples},
         {"figures", i.extra.is_null() ? nlohmann::json::object() : i.extra}});
  }
  j["retries"] = nlohmann::json::array();
  for (const Retry& t : r.retries) {
    j["retries"].push_back({{"step", t.step},
                            {"attack", t.attack},
                            {"robust_accuracy_before", t.accuracy_before},
                            {"robust_accuracy_after", t.accuracy_after},
                            {"broken", t.broken},
                            {"seconds", t.seconds}});
  }
  j["stage_seconds"] = nlohmann::json::object();
  for (const auto& [name, secs] : r.stage_seconds) j["stage_seconds"][name] = secs;
  j["seconds"] = r.seconds;
  return j;
}

}  // namespace advtk
