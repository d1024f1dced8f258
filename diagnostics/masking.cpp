#include "diagnostics/masking.h"

#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "attacks/iterative_attack.h"
#include "attacks/square.h"
#include "core/error.h"
#include "core/percent.h"
#include "core/seeding.h"
#include "diagnostics/masking_indicators.h"
#include "diagnostics/masking_ladder.h"
#include "eval/evaluation.h"

namespace advtk {
namespace {

// Runs the ladder's rungs in turn, each on the points still robust; a point is robust only while
// every attack so far failed on it.
class LadderRun {
 public:
  LadderRun(const MaskingContext& c, torch::Tensor broken) : c_(c), broken_(std::move(broken)) {
    found_ = torch::zeros_like(broken_);
    changed_loss_found_ = torch::zeros_like(broken_);
    found_x_ = torch::zeros_like(c.x);
  }

  void retry(const Rung& rung) {
    const torch::Tensor left = (~broken_).nonzero().squeeze(1);
    Retry r;
    r.step = rung.step;
    r.attack = rung.attack;
    r.accuracy_before = accuracy();
    if (left.numel() > 0) {
      const Dataset rest = rows_of(c_.points, left);
      const Outcome o = attack_at_budget(
          c_, rung.crafted_on != nullptr ? *rung.crafted_on : *c_.model, rest, rung.make);
      r.seconds = o.seconds;
      const torch::Tensor hit = o.broken.nonzero().squeeze(1);
      const torch::Tensor newly = left.index_select(0, hit);
      r.broken = newly.numel();
      if (newly.numel() > 0) {
        broken_.index_fill_(0, newly, true);
        found_x_.index_copy_(0, newly, o.x_adv.index_select(0, hit));
        found_.index_fill_(0, newly, true);
      }
      if (rung.changed_loss) {
        broken_by_changed_loss_ += r.broken;
        if (newly.numel() > 0) changed_loss_found_.index_fill_(0, newly, true);
      }
    }
    r.accuracy_after = accuracy();
    retries_.push_back(r);
  }

  double accuracy() const { return 1.0 - broken_.to(torch::kDouble).mean().item<double>(); }
  std::vector<Retry>& retries() { return retries_; }
  const torch::Tensor& found() const { return found_; }
  const torch::Tensor& found_x() const { return found_x_; }
  int64_t broken_by_changed_loss() const { return broken_by_changed_loss_; }
  // [points] bool: broken by a retry with the margin, DLR or targeted-DLR loss.
  const torch::Tensor& changed_loss_found() const { return changed_loss_found_; }

 private:
  const MaskingContext& c_;
  torch::Tensor broken_, found_, changed_loss_found_, found_x_;
  std::vector<Retry> retries_;
  int64_t broken_by_changed_loss_ = 0;
};

Outcome first_rows(const Outcome& o, int64_t m) {
  Outcome out = o;
  out.broken = o.broken.slice(0, 0, m);
  out.x_adv = o.x_adv.slice(0, 0, m);
  out.claimed = o.claimed.slice(0, 0, m);
  return out;
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

void decide_verdict(MaskingReport& r) {
  bool fired = false, unconverged = false;
  for (const Indicator& i : r.indicators) {
    fired = fired || (i.fired && i.symptom);
    unconverged = unconverged || (i.fired && !i.symptom);
  }
  const double drop = r.pgd_accuracy - r.adaptive_accuracy;
  const int64_t dropped = static_cast<int64_t>(std::llround(drop * static_cast<double>(r.points)));
  const std::string figures = "plain " + r.baseline + " leaves " + percent(r.pgd_accuracy) +
                              " robust, adaptive attacks " + percent(r.adaptive_accuracy) + " (" +
                              r.lowered_most_by + " broke the most)";
  if (fired && drop >= 0.05 && dropped >= 10) {
    r.verdict = Verdict::Masked;
    r.message = "gradient masking: " + figures;
  } else if (drop >= kLadderDropEvidence && dropped >= 10) {
    // The drop is the evidence: plain gradient attacks overstate robustness by this much.
    r.verdict = Verdict::Masked;
    r.message = "gradient masking: no indicator fired on a symptom, but " + figures +
                ", a drop of " + percent(drop) + " (at least " + percent(kLadderDropEvidence) +
                " is evidence on its own)";
  } else if (fired) {
    r.verdict = Verdict::Suspect;
    r.message =
        "an indicator fired but no retry broke the defense: the robustness claim is "
        "unreliable; a manual adaptive attack is required";
  } else if (unconverged) {
    r.verdict = Verdict::NoEvidence;
    r.message = "no evidence of gradient masking, but plain " + r.baseline +
                " has not converged (more steps or restarts break more): it leaves " +
                percent(r.pgd_accuracy) + " robust, the adaptive attacks " +
                percent(r.adaptive_accuracy) +
                ", an upper bound from these attacks, not a proof of robustness";
  } else {
    r.verdict = Verdict::NoEvidence;
    r.message = "no evidence of gradient masking; robust accuracy " +
                percent(r.worst_case_accuracy) +
                " is an upper bound from these attacks, not a proof of robustness";
  }
  if (r.worst_case_accuracy < r.adaptive_accuracy)
    r.message +=
        "; over every attack of the check " + percent(r.worst_case_accuracy) + " stay robust";
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
  // A deterministic model needs one pass per example (every pass agrees), a randomised one the
  // majority of vote_passes.
  const int64_t clean_passes = outputs_vary(model, data, o.batch_size) ? o.vote_passes : 1;
  Points pts = clean_correct_points(model, data, o.points, clean_passes, o.batch_size);
  c.points = pts.data;
  c.x = model.from_unit_range(c.points.images);
  c.y = c.points.labels;
  const int64_t n = c.points.size();
  c.expensive = rows_of(c.points, torch::arange(std::min(n, o.expensive_points)));
  c.classes = batched_logits(model, c.x.slice(0, 0, 1), 1).size(1);
  BreakLog breaks(c.points);
  c.breaks = &breaks;
  report.examples_seen = pts.seen;
  report.points = n;
  report.clean_accuracy = pts.clean_accuracy;

  int64_t eot_samples = 1;
  say("4 randomness");
  Indicator randomness = check_randomness(c, eot_samples);
  report.randomised = randomness.fired;
  say("1 broken graph");
  report.indicators.push_back(check_broken_graph(c));
  say("2 zero gradients, 13 exploding gradients");
  const PointGradients gradients = point_gradients(c);
  report.indicators.push_back(check_zero_gradients(c, gradients));
  report.indicators.push_back(check_exploding_gradients(c, gradients));
  say("3 probability output");
  report.indicators.push_back(check_probability_output(c));
  report.indicators.push_back(randomness);
  say("5 shattered gradients");
  report.indicators.push_back(check_shattered_gradients(c));
  say("6 unstable predictions");
  report.indicators.push_back(check_unstable_predictions(c));

  // The baseline every "pgd" step below runs: PGD, or L1-APGD for L1 (see masking_pgd).
  const bool l1 = o.threat.norm == Norm::L1;
  const std::string baseline = l1 ? "L1-APGD" : "PGD";
  report.baseline = baseline;
  say("plain " + baseline);
  const Outcome plain = attack_at_budget(c, model, c.points, [&](double e) {
    return masking_pgd(o, e, LossKind::CrossEntropy, o.pgd_steps, 1, 1);
  });
  report.pgd_accuracy = 1.0 - plain.broken.to(torch::kDouble).mean().item<double>();
  say("FGSM");
  const Outcome fgsm = attack_at_budget(c, model, c.points, [&](double e) {
    ThreatModel t = o.threat;
    t.eps = e;
    return make_fgsm(t);
  });
  report.indicators.push_back(check_one_step_beats_iterative(c, fgsm.broken, plain.broken));

  say("APGD-CE");
  const int64_t m = c.expensive.size();
  const Outcome plain_expensive = first_rows(plain, m);
  const Outcome apgd_ce = attack_at_budget(c, model, c.expensive, [&](double e) {
    return masking_apgd(o, e, LossKind::CrossEntropy, false, o.apgd_steps, 1, 1);
  });
  const torch::Tensor white_box = plain_expensive.broken | apgd_ce.broken;
  say("Square");
  torch::Tensor black_box = attack_at_budget(c, model, c.expensive, [&](double e) {
                              SquareOptions s;
                              s.threat = o.threat;
                              s.threat.eps = e;
                              s.queries = o.square_queries;
                              s.seed = o.seed;
                              return std::make_unique<SquareAttack>(s);
                            }).broken;
  std::string black_box_name = "Square";
  if (o.surrogate != nullptr) {
    say("transfer from the surrogate");
    const Outcome from = attack_at_budget(c, *o.surrogate, c.expensive,
                                          [&](double e) { return masking_transfer_pgd(o, e); });
    black_box = black_box | from.broken;
    black_box_name = "Square or transfer";
  }
  // Indicator 8 waits for the ladder: its white box includes the changed-loss retries.
  say("9 unbounded attack");
  report.indicators.push_back(check_unbounded_attack(c));
  say("10 budget growth");
  report.indicators.push_back(check_budget_growth(c, plain_expensive));
  say("11 random noise");
  report.indicators.push_back(
      check_noise_beats_attacks(c, white_box | black_box | fgsm.broken.slice(0, 0, m)));
  say("12 optimisation health");
  const double zero_fraction = [&] {
    for (const Indicator& i : report.indicators)
      if (i.id == "zero-gradients") return i.extra["all_zero_fraction"].get<double>();
    return 0.0;
  }();
  report.indicators.push_back(
      check_optimisation_health(c, plain_expensive, zero_fraction >= kZeroGradientSkip));

  // The ladder, on the points plain PGD left robust.
  LadderFacts facts;
  facts.randomised = report.randomised;
  facts.eot_samples = eot_samples;
  facts.classes = c.classes;
  for (const Indicator& i : report.indicators) {
    facts.gradient_trouble =
        facts.gradient_trouble || (i.fired && (i.id == "broken-graph" || i.id == "zero-gradients" ||
                                               i.id == "shattered-gradients"));
    facts.exploding = facts.exploding || (i.fired && i.id == "exploding-gradients");
  }
  facts.zero_gradient_fraction = zero_fraction;
  report.ladder_facts = facts;
  const Ladder ladder = build_ladder(model, o, facts);
  report.bpda_blocked = ladder.bpda_blocked;
  LadderRun run(c, plain.broken.clone());
  for (const Rung& rung : ladder.rungs) {
    say(rung.step + " " + rung.attack);
    run.retry(rung);
  }
  say("");
  report.retries = run.retries();
  for (const SkippedRung& s : ladder.skipped) {
    Retry r;
    r.step = s.step;
    r.attack = s.attack;
    r.skipped = s.reason;
    r.accuracy_before = r.accuracy_after = run.accuracy();
    report.retries.push_back(r);
  }
  std::stable_sort(report.retries.begin(), report.retries.end(),
                   [](const Retry& a, const Retry& b) { return a.step < b.step; });
  report.indicators.push_back(check_loss_specific(c, run.broken_by_changed_loss()));
  report.indicators.push_back(check_black_box_beats_white_box(
      c, black_box, white_box | run.changed_loss_found().slice(0, 0, m), black_box_name));
  std::sort(report.indicators.begin(), report.indicators.end(),
            [](const Indicator& a, const Indicator& b) { return a.number < b.number; });
  report.adaptive_accuracy = run.accuracy();
  report.worst_case_accuracy = 1.0 - breaks.broken().to(torch::kDouble).mean().item<double>();
  int64_t most = 0;
  for (const Retry& r : report.retries) {
    if (r.broken > most) {
      most = r.broken;
      report.lowered_most_by = r.step + " " + r.attack;
    }
  }
  const torch::Tensor found = run.found().nonzero().squeeze(1);
  report.found_index = c.points.example_ids().index_select(0, found);
  report.found_x = run.found_x().index_select(0, found);
  report.found_y = c.y.index_select(0, found);
  report.found_pred = predictions(model, report.found_x, o.batch_size);
  const torch::Tensor any = breaks.broken().nonzero().squeeze(1);
  report.broken_index = c.points.example_ids().index_select(0, any);
  report.broken_x = breaks.x_adv().index_select(0, any);

  decide_verdict(report);
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
  j["worst_case_robust_accuracy"] = r.worst_case_accuracy;
  j["broken_by_any_attack"] = r.broken_index.defined() ? r.broken_index.numel() : 0;
  j["lowered_most_by"] = r.lowered_most_by;
  if (!r.bpda_blocked.empty()) j["bpda_blocked"] = r.bpda_blocked;
  j["ladder_facts"] = r.ladder_facts;
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
    nlohmann::json e = {{"step", t.step},
                        {"attack", t.attack},
                        {"robust_accuracy_before", t.accuracy_before},
                        {"robust_accuracy_after", t.accuracy_after},
                        {"broken", t.broken},
                        {"seconds", t.seconds}};
    if (!t.skipped.empty()) e["skipped"] = t.skipped;
    j["retries"].push_back(e);
  }
  j["stage_seconds"] = nlohmann::json::object();
  for (const auto& [name, secs] : r.stage_seconds) j["stage_seconds"][name] = secs;
  j["seconds"] = r.seconds;
  return j;
}

}  // namespace advtk
