#include "audit/audit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "attacks/attack_runner.h"
#include "attacks/autoattack_checks.h"
#include "attacks/registry.h"
#include "attacks/transfer.h"
#include "audit/image_grid.h"
#include "audit/stage_store.h"
#include "core/blas.h"
#include "core/error.h"
#include "core/seeding.h"
#include "core/sha256.h"
#include "data/image_folder.h"
#include "diagnostics/masking.h"
#include "diagnostics/masking_ladder.h"
#include "diagnostics/masking_support.h"
#include "diagnostics/numerical_probe.h"
#include "diagnostics/sharpness.h"
#include "eval/batched.h"
#include "eval/evaluation.h"

namespace advtk {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

nlohmann::json null_if_infinite(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

double fraction(const torch::Tensor& mask) {
  return mask.numel() == 0 ? 0.0 : mask.to(torch::kDouble).mean().item<double>();
}

// One attack over the audit's examples, per budget, assembled from its saved batches.
struct BudgetOutcome {
  torch::Tensor success, pred, l2, linf, l1, distance;  // [N] CPU
  int64_t forward = 0, backward = 0;
};

// One budget's outcome as it is read back batch by batch, joined at the end.
struct BudgetPieces {
  std::vector<torch::Tensor> success, pred, l2, linf, l1, distance;

  void add(const TensorMap& t, const std::string& e) {
    success.push_back(t.at("success_" + e).to(torch::kBool));
    pred.push_back(t.at("pred_" + e));
    l2.push_back(t.at("l2_" + e));
    linf.push_back(t.at("linf_" + e));
    l1.push_back(t.at("l1_" + e));
    distance.push_back(t.at("distance_" + e));
  }
  void join_into(BudgetOutcome& o) const {
    o.success = torch::cat(success);
    o.pred = torch::cat(pred);
    o.l2 = torch::cat(l2);
    o.linf = torch::cat(linf);
    o.l1 = torch::cat(l1);
    o.distance = torch::cat(distance);
  }
};
struct ChunkedRun {
  std::vector<BudgetOutcome> budgets;
  torch::Tensor x_adv;  // [N, C, H, W] model range (only when kept)
  double seconds = 0.0;
  nlohmann::json parameters;  // per budget
};

class Auditor {
 public:
  Auditor(const Model& model, const Dataset& data, const AuditOptions& options,
          const AuditProgress& progress, const AuditSaved& saved, StageStore& store, int stages)
      : model_(model),
        data_(data),
        o_(options),
        progress_(progress),
        saved_(saved),
        store_(store),
        stage_count_(stages) {}

  void begin(const std::string& label) {
    ++stage_index_;
    label_ = label;
    report(0, 0);
  }
  // Seeds torch's global generator (which a randomised model draws from) from the audit's seed
  // and a stage or batch name, so each draws the same whether earlier work ran or was resumed.
  void seed_global_generator(const std::string& name) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (const char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
    torch::manual_seed(mix_seed(o_.seed, h));
  }
  void report(int64_t done, int64_t total) const {
    if (progress_) progress_(label_, stage_index_, stage_count_, done, total);
  }
  void save(const std::string& name, nlohmann::json j, const TensorMap& tensors = {}) {
    store_.save(name, j, tensors);
    if (saved_) saved_(name);
  }

  // Runs (or reads back) the attack made by `make` on the examples at positions `rows` (CPU
  // int64, ascending), one batch at a time; outcomes follow rows.
  // `judge_passes` > 1: success is decided again by a majority over that many passes (a
  // randomised model), before the batch is saved.
  ChunkedRun chunked(const std::string& stage, const AttackFactory& make,
                     const std::vector<double>& budgets, const torch::Tensor& rows, bool keep_x_adv,
                     int64_t judge_passes = 1) {
    const int64_t n = rows.numel();
    ChunkedRun out;
    out.budgets.resize(budgets.size());
    std::vector<BudgetPieces> pieces(budgets.size());
    std::vector<torch::Tensor> x_adv_parts;
    const int64_t b = o_.batch_size;
    const int64_t chunks = (n + b - 1) / b;
    for (int64_t k = 0; k < chunks; ++k) {
      report(k * b, n);
      const std::string name = stage + "/batch-" + std::to_string(k);
      std::optional<TensorMap> t = store_.tensors(name);
      nlohmann::json j;
      if (t) {
        j = *store_.json(name);
      } else {
        const int64_t m = std::min(b, n - k * b);
        const Dataset chunk = rows_of(data_, rows.narrow(0, k * b, m));
        AttackRunOptions run_options;
        run_options.batch_size = b;
        run_options.seed = o_.seed;
        // A randomised model draws from torch's global generator: seeded per batch, a resumed
        // audit draws what an uninterrupted one did.
        seed_global_generator(name);
        std::vector<AttackRun> runs;
        if (judge_passes == 1) {
          runs = run_attack(model_, chunk, make, budgets, run_options);
        } else {
          // A randomised model: every example is attacked at every budget (one clean pass, or an
          // attack's own verdict, may be a lucky draw), and judged by a majority of passes. The
          // counts stay cumulative over the sweep, as run_attack's.
          run_options.skip_misclassified = false;
          for (double eps : budgets) {
            AttackRun r = run_attack(model_, chunk, make, {eps}, run_options).front();
            r.success = majority_misclassified(model_, r.x_adv, r.y, judge_passes, b);
            if (!runs.empty()) {
              r.forward_calls += runs.back().forward_calls;
              r.backward_calls += runs.back().backward_calls;
              r.seconds += runs.back().seconds;
            }
            runs.push_back(std::move(r));
          }
        }
        TensorMap map;
        nlohmann::json forward = nlohmann::json::array(), backward = nlohmann::json::array();
        double seconds = 0.0;
        for (size_t e = 0; e < runs.size(); ++e) {
          const AttackRun& r = runs[e];
          const std::string s = std::to_string(e);
          map["success_" + s] = r.success.to(torch::kUInt8);
          map["pred_" + s] = r.pred_adv;
          map["l2_" + s] = distance(Norm::L2, r.x_adv, r.x).to(torch::kFloat);
          map["linf_" + s] = distance(Norm::Linf, r.x_adv, r.x).to(torch::kFloat);
          map["l1_" + s] = distance(Norm::L1, r.x_adv, r.x).to(torch::kFloat);
          map["distance_" + s] = r.distance.to(torch::kCPU, torch::kFloat);
          if (keep_x_adv) map["x_adv_" + s] = r.x_adv;
          // Calls and seconds are cumulative over the sweep: the last budget holds the total.
          forward.push_back(r.forward_calls.sum().item<int64_t>());
          backward.push_back(r.backward_calls.sum().item<int64_t>());
          seconds = r.seconds;
        }
        nlohmann::json parameters = nlohmann::json::array();
        for (const AttackRun& r : runs) parameters.push_back(r.parameters);
        j = {{"seconds", seconds},
             {"forward_calls", forward},
             {"backward_calls", backward},
             {"parameters", parameters}};
        save(name, j, map);
        // Continue from what was saved, exactly as a resumed run will.
        j = *store_.json(name);
        t = store_.tensors(name);
      }
      for (size_t e = 0; e < budgets.size(); ++e) {
        const std::string s = std::to_string(e);
        pieces[e].add(*t, s);
        if (keep_x_adv && e == 0) x_adv_parts.push_back(t->at("x_adv_" + s));
        const int64_t previous_f = e == 0 ? 0 : j["forward_calls"][e - 1].get<int64_t>();
        const int64_t previous_b = e == 0 ? 0 : j["backward_calls"][e - 1].get<int64_t>();
        out.budgets[e].forward += j["forward_calls"][e].get<int64_t>() - previous_f;
        out.budgets[e].backward += j["backward_calls"][e].get<int64_t>() - previous_b;
      }
      out.seconds += j["seconds"].get<double>();
      out.parameters = j["parameters"];
    }
    report(n, n);
    for (size_t e = 0; e < budgets.size(); ++e) pieces[e].join_into(out.budgets[e]);
    if (keep_x_adv) out.x_adv = torch::cat(x_adv_parts);
    return out;
  }

  const Model& model_;
  const Dataset& data_;
  const AuditOptions& o_;
  const AuditProgress& progress_;
  const AuditSaved& saved_;
  StageStore& store_;
  int stage_count_;
  int stage_index_ = 0;
  std::string label_;
};

AttackSetup base_setup(const AuditOptions& o, const Model& model) {
  AttackSetup s;
  s.threat.norm = o.norm;
  s.threat.lo = model.options().input_lo;
  s.threat.hi = model.options().input_hi;
  s.seed = o.seed;
  return s;
}

// Figures for one attack at one budget, over all audit examples.
nlohmann::json attack_entry(const std::string& name, double eps, const BudgetOutcome& r,
                            const torch::Tensor& clean_correct, const nlohmann::json& seconds,
                            const nlohmann::json& parameters, Norm norm) {
  const torch::Tensor broken = r.success & clean_correct;
  const int64_t attacked = clean_correct.sum().item<int64_t>();
  const auto median = [&](const torch::Tensor& d) {
    const torch::Tensor v = d.masked_select(broken);
    return v.numel() == 0 ? nlohmann::json(nullptr)
                          : nlohmann::json(v.to(torch::kDouble).median().item<double>());
  };
  return {{"attack", name},
          {"norm", norm_name(norm)},
          {"eps", eps},
          {"robust_accuracy", fraction(clean_correct & ~r.success)},
          {"success_rate", attacked == 0 ? nlohmann::json(nullptr)
                                         : nlohmann::json(broken.sum().item<double>() / attacked)},
          {"median_l2", median(r.l2)},
          {"median_linf", median(r.linf)},
          {"forward_calls", r.forward},
          {"backward_calls", r.backward},
          {"seconds", seconds},
          {"parameters", parameters}};
}

// Quantiles of per-point minimal perturbations, failures counted as infinitely far.
nlohmann::json distance_distribution(const torch::Tensor& d_in, int bins) {
  const torch::Tensor d = std::get<0>(d_in.to(torch::kDouble).sort());
  const int64_t n = d.numel();
  const auto quantile = [&](double q) -> nlohmann::json {
    if (n == 0) return nullptr;
    // The lower empirical quantile, so that a failure (∞) shows as null rather than a blend.
    const int64_t i = std::min<int64_t>(n - 1, static_cast<int64_t>(std::ceil(q * n)) - 1);
    return null_if_infinite(d[std::max<int64_t>(i, 0)].item<double>());
  };
  const torch::Tensor finite = d.masked_select(torch::isfinite(d));
  nlohmann::json hist = {{"edges", nlohmann::json::array()}, {"counts", nlohmann::json::array()}};
  if (finite.numel() > 0) {
    const double hi = std::max(finite.max().item<double>(), 1e-12);
    const torch::Tensor counts = torch::histc(finite, bins, 0.0, hi);
    for (int i = 0; i <= bins; ++i) hist["edges"].push_back(hi * i / bins);
    for (int i = 0; i < bins; ++i)
      hist["counts"].push_back(static_cast<int64_t>(counts[i].item<double>()));
  }
  return {{"points", n},
          {"failed", n - finite.numel()},
          {"q1", quantile(0.25)},
          {"median", quantile(0.5)},
          {"q3", quantile(0.75)},
          {"min", n ? null_if_infinite(d[0].item<double>()) : nlohmann::json(nullptr)},
          {"mean_finite",
           finite.numel() ? nlohmann::json(finite.mean().item<double>()) : nlohmann::json(nullptr)},
          {"histogram", hist}};
}

// SHA-256 of the tensors' bytes, in order: a resumed audit must see exactly the same data.
std::string tensor_sha256(const std::vector<torch::Tensor>& tensors) {
  std::vector<char> bytes;
  for (const torch::Tensor& t : tensors) {
    const torch::Tensor c = t.contiguous().cpu();
    const char* p = static_cast<const char*>(c.data_ptr());
    bytes.insert(bytes.end(), p, p + c.numel() * c.element_size());
  }
  return sha256_hex(bytes);
}

nlohmann::json per_class(const torch::Tensor& ok, const torch::Tensor& y, int64_t classes) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t c = 0; c < classes; ++c) {
    const torch::Tensor in = y.eq(c);
    const int64_t count = in.sum().item<int64_t>();
    out.push_back(count == 0 ? nlohmann::json(nullptr)
                             : nlohmann::json((ok & in).sum().item<double>() / count));
  }
  return out;
}

}  // namespace

AuditBudget parse_audit_budget(const std::string& name) {
  if (name == "quick") return AuditBudget::Quick;
  if (name == "standard") return AuditBudget::Standard;
  if (name == "thorough") return AuditBudget::Thorough;
  throw Error("--budget: expected quick, standard or thorough, got '" + name + "'");
}

std::string audit_budget_name(AuditBudget budget) {
  switch (budget) {
    case AuditBudget::Quick:
      return "quick";
    case AuditBudget::Standard:
      return "standard";
    case AuditBudget::Thorough:
      return "thorough";
  }
  return "?";
}

AuditPlan audit_plan(AuditBudget budget) {
  AuditPlan p;  // standard: the papers' reference parameters
  if (budget == AuditBudget::Quick) {
    p.default_examples = 200;
    p.pgd_steps = 20;
    p.apgd_steps = 50;
    p.target_classes = 3;
    p.square_queries = 1000;
    p.deepfool_examples = 200;
    p.cw_examples = 50;
    p.masking_points = 100;
    p.masking_expensive_points = 20;
    p.masking_pgd_steps = 20;
    p.masking_apgd_steps = 50;
    p.masking_queries = 1000;
    p.masking_noise_draws = 1000;
    p.numerical_examples = 200;
    p.sharpness_examples = 256;
    p.sharpness_iterations = 20;
    p.sharpness_pairs = 5;
  } else if (budget == AuditBudget::Thorough) {
    p.default_examples = 10000;
    p.pgd_steps = 100;
    p.pgd_restarts = 5;
    p.apgd_restarts = 5;
    p.square_queries = 10000;
    p.deepfool_examples = 10000;
    p.cw_examples = 1000;
    p.cw_full_search = true;
    p.masking_points = 1000;
    p.masking_expensive_points = 200;
    p.numerical_examples = 1000;
    p.sharpness_examples = 2000;
    p.sharpness_iterations = 100;
    p.sharpness_pairs = 20;
  }
  return p;
}

std::vector<double> default_audit_budgets(Norm norm, const std::vector<int64_t>& shape,
                                          double range) {
  const bool colour = !shape.empty() && shape[0] >= 3;
  std::vector<double> b;
  switch (norm) {
    case Norm::Linf:
      b = colour ? std::vector<double>{2 / 255.0, 4 / 255.0, 8 / 255.0, 16 / 255.0}
                 : std::vector<double>{0.05, 0.1, 0.2};
      break;
    case Norm::L2:
      b = colour ? std::vector<double>{0.25, 0.5, 1.0} : std::vector<double>{0.5, 1.0, 2.0};
      break;
    case Norm::L1:
      b = colour ? std::vector<double>{3.0, 6.0, 12.0} : std::vector<double>{2.5, 5.0, 10.0};
      break;
  }
  for (double& e : b) e *= range;
  return b;
}

std::vector<std::string> audit_attacks(Norm norm) {
  std::vector<std::string> names;
  for (const std::string n :
       {norm == Norm::L2 ? "fgm" : "fgsm", "pgd", "apgd", "apgd-t", "square"}) {
    const AttackInfo& info = find_attack(n);
    if (std::find(info.norms.begin(), info.norms.end(), norm) != info.norms.end())
      names.push_back(n);
  }
  return names;
}

double audit_work_estimate(const AuditOptions& o, int64_t examples, int64_t num_classes) {
  const AuditPlan& p = o.plan;
  const double forward_only = 0.35;  // a forward pass costs about a third of forward+backward
  const double budgets = static_cast<double>(std::max<size_t>(o.eps.size(), 1));
  const double targets = static_cast<double>(std::min(p.target_classes, num_classes - 1));
  // L1: APGD-CE runs AutoAttack's 5 restarts.
  const double apgd_ce_restarts = static_cast<double>(
      o.norm == Norm::L1 ? std::max<int64_t>(p.apgd_restarts, 5) : p.apgd_restarts);
  double per_example = 1 + p.pgd_steps * p.pgd_restarts + p.apgd_steps * apgd_ce_restarts +
                       targets * p.apgd_steps * p.apgd_restarts + forward_only * p.square_queries;
  double work = budgets * per_example * examples;
  if (o.min_norm) {
    work += 50.0 * std::min(p.deepfool_examples, examples);  // ~5 iterations × 10 candidates
    // Up to the first success, most examples need one run of c (the zoo CNN: all of them).
    const int64_t cw_runs =
        p.cw_full_search ? p.cw_binary_steps : std::min<int64_t>(2, p.cw_binary_steps);
    work += static_cast<double>(cw_runs * p.cw_steps) * std::min(p.cw_examples, examples);
  }
  if (o.masking) {
    work += static_cast<double>(p.masking_points) *
            (7.0 * p.masking_pgd_steps + (12.0 + targets) * p.masking_apgd_steps);
    work += static_cast<double>(p.masking_expensive_points) *
            (forward_only * (2.0 * p.masking_queries + p.masking_noise_draws) +
             8.0 * p.masking_pgd_steps);
  }
  if (o.sharpness) {
    work += 4.0 * p.sharpness_iterations * p.sharpness_examples;
    work += forward_only * 4.0 * p.sharpness_pairs * p.sharpness_examples;
  }
  work += 3.0 * p.numerical_examples;
  return work;
}

double audit_adaptive_work_estimate(const AuditOptions& o, int64_t examples, int64_t num_classes) {
  if (!o.masking) return 0.0;
  const AuditPlan& p = o.plan;
  const double forward_only = 0.35;
  const double budgets = static_cast<double>(std::max<size_t>(o.eps.size(), 1));
  const double targets = static_cast<double>(std::min(p.target_classes, num_classes - 1));
  const double pgd = static_cast<double>(p.masking_pgd_steps);
  const double apgd = static_cast<double>(p.masking_apgd_steps);
  // Every rung of the ladder, each on every example: R1 (margin PGD, APGD-DLR, APGD-T), R2 (EOT
  // 20), R3 (BPDA PGD and APGD-DLR), R4 (two smoothed scales, 41 forward passes a step), R5 (4x
  // steps, 5 restarts), R6 (Square with 2x queries).
  const double per_example = pgd + apgd + targets * apgd + 20 * (apgd + pgd) + pgd + apgd +
                             forward_only * 2 * 41 * pgd + 20 * pgd +
                             forward_only * 2 * static_cast<double>(p.masking_queries);
  return budgets * per_example * static_cast<double>(examples);
}

AuditResult run_audit(const Model& model, const Dataset& data, const AuditOptions& o_in,
                      const AuditProgress& progress, const AuditSaved& saved) {
  const auto start = Clock::now();
  AuditOptions o = o_in;
  const int64_t n = data.size();
  ADVTK_CHECK(n > 0, "audit: the data has no examples");
  ADVTK_CHECK(o.batch_size > 0, "--batch-size: expected a positive number, got ", o.batch_size);
  const double lo = model.options().input_lo, hi = model.options().input_hi;
  const std::vector<int64_t> shape(data.images.sizes().begin() + 1, data.images.sizes().end());
  if (o.eps.empty()) o.eps = default_audit_budgets(o.norm, shape, hi - lo);
  for (double e : o.eps)
    ADVTK_CHECK(std::isfinite(e) && e > 0, "--eps: expected finite budgets > 0, got ", e);
  std::sort(o.eps.begin(), o.eps.end());
  o.eps.erase(std::unique(o.eps.begin(), o.eps.end()), o.eps.end());
  if (o.main_eps <= 0) o.main_eps = o.eps[o.eps.size() / 2];
  // The main budget is one of the budgets, matched up to rounding (8/255 written two ways).
  const auto main_it = std::find_if(o.eps.begin(), o.eps.end(), [&](double e) {
    return std::abs(e - o.main_eps) <= 1e-9 * std::max(1.0, std::abs(e));
  });
  ADVTK_CHECK(main_it != o.eps.end(), "--main-eps: ", o.main_eps,
              " is not one of the budgets (--eps)");
  o.main_eps = *main_it;
  const ProbeResult probe = model.probe(shape, 0);
  // A randomised model: every verdict is a majority over the masking check's passes, clean
  // accuracy is the expected accuracy of one pass, and the gradient attacks average 20 EOT passes.
  const bool randomised = outputs_vary(model, data, o.batch_size);
  const int64_t passes = randomised ? MaskingOptions{}.vote_passes : 1;
  const int64_t eot = randomised ? 20 : 1;
  const int64_t classes = std::max(data.num_classes(), probe.num_classes);
  std::vector<std::string> attacks = audit_attacks(o.norm);
  // APGD-T's targeted DLR loss needs 4 classes (it scales by z_π1 − (z_π3 + z_π4)/2): with 3 the
  // untargeted DLR loss (3 classes) takes its place; with 2 neither exists.
  nlohmann::json skipped_attacks = nlohmann::json::array();
  const auto apgd_t = std::find(attacks.begin(), attacks.end(), "apgd-t");
  if (classes < 4 && apgd_t != attacks.end()) {
    const std::string why =
        "the targeted DLR loss needs at least 4 classes, the model has " + std::to_string(classes);
    if (classes == 3) {
      *apgd_t = "apgd-dlr";
      skipped_attacks.push_back(
          {{"attack", "apgd-t"}, {"reason", why}, {"replaced_by", "apgd-dlr"}});
    } else {
      attacks.erase(apgd_t);
      skipped_attacks.push_back(
          {{"attack", "apgd-t"}, {"reason", why + " (and the DLR loss at least 3)"}});
    }
  }
  const AuditPlan& p = o.plan;

  const nlohmann::json plan = p;
  const torch::Tensor ids = data.example_ids();
  const nlohmann::json settings = {
      {"budget", audit_budget_name(o.budget)},
      {"norm", norm_name(o.norm)},
      {"eps", o.eps},
      {"main_eps", o.main_eps},
      {"seed", o.seed},
      {"batch_size", o.batch_size},
      {"sections", {{"min_norm", o.min_norm}, {"masking", o.masking}, {"sharpness", o.sharpness}}},
      {"randomised", {{"detected", randomised}, {"vote_passes", passes}, {"eot", eot}}},
      {"plan", plan}};
  const nlohmann::json data_info = {
      {"source", data.source},
      {"examples", n},
      {"classes", classes},
      {"class_names", data.class_names},
      {"first_id", ids[0].item<int64_t>()},
      {"sha256", tensor_sha256({data.images.to(torch::kFloat), data.labels.to(torch::kLong),
                                ids.to(torch::kLong)})}};
  // What the stages' numbers depend on: the model by content (not by the path it was given as),
  // how it is run, the data, the settings and the library versions.
  nlohmann::json model_key = o.model_info;
  model_key.erase("path");
  model_key["input_range"] = {lo, hi};
  model_key["device"] = model.device().str();
  model_key["output_index"] = model.options().output_index
                                  ? nlohmann::json(*model.options().output_index)
                                  : nlohmann::json(nullptr);
  model_key["output_key"] = model.options().output_key ? nlohmann::json(*model.options().output_key)
                                                       : nlohmann::json(nullptr);
  model_key["bpda"] = model.options().bpda;
  StageStore store(
      o.out,
      {{"model", model_key},
       {"data", data_info},
       {"settings", settings},
       // stages 2: the masking stage saves every break of the check
       {"versions", {{"advtk", ADVTK_VERSION}, {"libtorch", TORCH_VERSION}, {"stages", 2}}}},
      o.resume);

  const int stage_count = 1 + static_cast<int>(attacks.size()) + (o.min_norm ? 2 : 0) +
                          (o.masking ? 1 : 0) + 1 + (o.sharpness ? 1 : 0);
  Auditor a(model, data, o, progress, saved, store, stage_count);
  nlohmann::json stage_seconds = nlohmann::json::object();

  // 1. Clean accuracy.
  a.begin("clean accuracy");
  if (!store.tensors("clean")) {
    const auto t = Clock::now();
    a.seed_global_generator("clean");
    const EvaluationResult e = evaluate(
        model, data, o.batch_size, classes,
        [&](int64_t done, int64_t total) { a.report(done, total); }, passes);
    nlohmann::json per = nlohmann::json::array();
    for (double v : e.per_class_accuracy)
      per.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
    a.save("clean",
           {{"accuracy", e.accuracy},
            {"majority_accuracy", e.majority_accuracy},
            {"passes", e.passes},
            {"mean_loss", e.mean_loss},
            {"per_class_accuracy", per},
            {"seconds", seconds_since(t)}},
           {{"predictions", e.predictions},
            {"majority_correct", e.majority_correct},
            {"confusion", e.confusion}});
  }
  const nlohmann::json clean = *store.json("clean");
  const TensorMap clean_t = *store.tensors("clean");
  const torch::Tensor y = data.labels;
  const torch::Tensor clean_correct = clean_t.at("majority_correct").to(torch::kBool);
  stage_seconds["clean"] = clean["seconds"];

  // 2. Attacks at every budget.
  nlohmann::json attack_entries = nlohmann::json::array();
  std::vector<std::pair<std::string, std::vector<BudgetOutcome>>> outcomes;
  for (const std::string& name : attacks) {
    a.begin(name + " at eps " + [&] {
      std::string s;
      for (double e : o.eps) s += (s.empty() ? "" : ",") + concat(e);
      return s;
    }());
    AttackSetup setup = base_setup(o, model);
    OptionValues c;
    if (name == "pgd") {
      c.set("steps", p.pgd_steps).set("restarts", p.pgd_restarts);
    } else if (name == "apgd" || name == "apgd-t" || name == "apgd-dlr") {
      int64_t restarts = p.apgd_restarts;
      if (name == "apgd-t") c.set("target-classes", std::min(p.target_classes, classes - 1));
      if (name == "apgd-dlr") c.set("loss", std::string("dlr"));
      if (o.norm == Norm::L1) {
        // AutoAttack's L1 version: the 3ε/2ε/ε schedule, and 5 restarts for APGD-CE.
        c.set("l1-schedule", true);
        if (name == "apgd") restarts = std::max<int64_t>(restarts, 5);
      }
      c.set("steps", p.apgd_steps).set("restarts", restarts);
    } else if (name == "square") {
      c.set("queries", p.square_queries);
    }
    if (name != "square") c.set("eot", eot);
    const AttackInfo& info = find_attack(name == "apgd-dlr" ? "apgd" : name);
    const ChunkedRun run = a.chunked(
        "attack-" + name,
        [&](double eps) {
          setup.threat.eps = eps;
          return make_attack(info, setup, c);
        },
        o.eps, torch::arange(n, torch::kLong), false, passes);
    for (size_t e = 0; e < o.eps.size(); ++e) {
      attack_entries.push_back(
          attack_entry(name, o.eps[e], run.budgets[e], clean_correct,
                       e + 1 == o.eps.size() ? nlohmann::json(run.seconds) : nullptr,
                       run.parameters[e], o.norm));
    }
    // Seconds are for the whole sweep over the budgets: on the last budget's entry, null on the
    // others.
    stage_seconds["attack-" + name] = run.seconds;
    outcomes.emplace_back(name, run.budgets);
  }

  // 3. Minimum-norm attacks: DeepFool in the audit's norm (L2 for L1 audits), CW-L2.
  nlohmann::json min_norm = nlohmann::json::array();
  torch::Tensor deepfool_success, deepfool_distance, deepfool_x_adv, deepfool_pred;
  // Each minimum-norm attack's success and distance in the audit's norm, for the worst case.
  std::vector<std::tuple<std::string, torch::Tensor, torch::Tensor>> min_norm_hits;
  Norm deepfool_norm = o.norm == Norm::L1 ? Norm::L2 : o.norm;
  if (o.min_norm) {
    for (const std::string name : {"deepfool", "cw"}) {
      const bool deepfool = name == std::string("deepfool");
      const int64_t m = std::min(n, deepfool ? p.deepfool_examples : p.cw_examples);
      a.begin(name + " (minimum norm) on " + std::to_string(m) + " examples");
      AttackSetup setup = base_setup(o, model);
      setup.threat.norm = deepfool ? deepfool_norm : Norm::L2;
      OptionValues c;
      if (!deepfool) {
        c.set("binary-steps", p.cw_binary_steps)
            .set("steps", p.cw_steps)
            .set("early-stop", !p.cw_full_search);
      }
      const AttackInfo& info = find_attack(name);
      const ChunkedRun run = a.chunked(
          std::string("min-norm-") + name, [&](double) { return make_attack(info, setup, c); },
          {0.0}, torch::arange(m, torch::kLong), deepfool, passes);
      const BudgetOutcome& r = run.budgets[0];
      const torch::Tensor correct = clean_correct.narrow(0, 0, m);
      const torch::Tensor d = torch::where(r.success, r.distance.to(torch::kDouble),
                                           torch::full({m}, INFINITY, torch::kDouble))
                                  .masked_select(correct);
      nlohmann::json entry = distance_distribution(d, 20);
      entry["attack"] = name;
      entry["norm"] = norm_name(setup.threat.norm);
      entry["examples"] = m;
      entry["seconds"] = run.seconds;
      entry["forward_calls"] = r.forward;
      entry["backward_calls"] = r.backward;
      entry["parameters"] = run.parameters[0];
      if (setup.threat.norm == o.norm) {
        nlohmann::json at = nlohmann::json::array();
        for (double eps : o.eps) {
          const torch::Tensor within = r.success & r.distance.le(eps * (1 + 1e-6) + 1e-7);
          at.push_back({{"eps", eps}, {"robust_accuracy", fraction(correct & ~within)}});
        }
        entry["robust_accuracy_at"] = at;
      }
      min_norm.push_back(entry);
      stage_seconds[std::string("min-norm-") + name] = run.seconds;
      min_norm_hits.emplace_back(name, r.success,
                                 o.norm == Norm::Linf ? r.linf
                                 : o.norm == Norm::L2 ? r.l2
                                                      : r.l1);
      if (deepfool) {
        deepfool_success = r.success;
        deepfool_distance = r.distance;
        deepfool_x_adv = run.x_adv;
        deepfool_pred = r.pred;
      }
    }
  }

  // The most fragile examples: the smallest DeepFool perturbations.
  AuditResult result;
  nlohmann::json fragile = nlohmann::json::array();
  if (deepfool_success.defined()) {
    const int64_t m = deepfool_success.size(0);
    const torch::Tensor ok = deepfool_success & clean_correct.narrow(0, 0, m);
    const torch::Tensor key = torch::where(ok, deepfool_distance.to(torch::kDouble),
                                           torch::full({m}, INFINITY, torch::kDouble));
    const torch::Tensor order = std::get<1>(key.sort(/*stable=*/true, 0, false));
    std::vector<GridRow> rows;
    const auto name_of = [&](int64_t c) { return data.class_name(c); };
    const int64_t shown = std::min<int64_t>(o.fragile_examples, ok.sum().item<int64_t>());
    for (int64_t k = 0; k < shown; ++k) {
      const int64_t i = order[k].item<int64_t>();
      const int64_t pred = deepfool_pred[i].item<int64_t>();
      const double d = deepfool_distance[i].item<double>();
      fragile.push_back({{"position", i},
                         {"id", ids[i].item<int64_t>()},
                         {"label", y[i].item<int64_t>()},
                         {"prediction", pred},
                         {"distance", d},
                         {"norm", norm_name(deepfool_norm)}});
      std::ostringstream dist;
      dist << norm_name(deepfool_norm) << " " << std::setprecision(3) << d;
      rows.push_back(
          {data.images[i], ((deepfool_x_adv[i] - lo) / (hi - lo)).clamp(0, 1),
           "#" + std::to_string(ids[i].item<int64_t>()) + " " + name_of(y[i].item<int64_t>()),
           dist.str(), "-> " + name_of(pred)});
    }
    if (!rows.empty()) result.grid_png = encode_png(render_grid(rows));
  }

  // 4. Robustness verification: the gradient-masking detector.
  nlohmann::json masking = {{"skipped", true}, {"reason", "--skip masking"}};
  torch::Tensor masking_broken;  // [N] bool: points any attack of the check broke at main_eps
  const MaskingOptions masking_options = [&] {
    MaskingOptions m;
    m.threat = {o.norm, o.main_eps, lo, hi};
    m.points = p.masking_points;
    m.expensive_points = p.masking_expensive_points;
    m.batch_size = o.batch_size;
    m.pgd_steps = p.masking_pgd_steps;
    m.apgd_steps = p.masking_apgd_steps;
    m.square_queries = p.masking_queries;
    m.noise_draws = p.masking_noise_draws;
    m.surrogate = o.surrogate;
    m.bpda_model = o.bpda_model;
    m.seed = o.seed;
    return m;
  }();
  if (o.masking) {
    a.begin("gradient-masking check at eps " + concat(o.main_eps));
    if (!store.tensors("masking")) {
      torch::Tensor broken_ids = torch::zeros({0}, torch::kLong);
      nlohmann::json j;
      if (!clean_correct.any().item<bool>()) {
        j = {{"skipped", true}, {"reason", "no clean-correct examples to check"}};
      } else {
        try {
          const MaskingReport r =
              detect_masking(model, data, masking_options, [&](const std::string& stage) {
                if (progress) progress("masking: " + stage, a.stage_index_, a.stage_count_, 0, 0);
              });
          j = to_json(r);
          if (r.broken_index.defined() && r.broken_index.numel() > 0) broken_ids = r.broken_index;
        } catch (const Error& e) {
          // e.g. a randomised model whose majority vote finds no clean-correct point
          j = {{"skipped", true}, {"reason", e.what()}};
        }
      }
      a.save("masking", j, {{"broken_index", broken_ids}});
    }
    masking = *store.json("masking");
    masking["eps"] = o.main_eps;
    if (masking.contains("seconds")) stage_seconds["masking"] = masking["seconds"];
    // Its points carry the data's example ids; mark their positions here.
    const torch::Tensor ids_broken = store.tensors("masking")->at("broken_index");
    masking_broken = torch::isin(ids, ids_broken);
  }

  // Which examples some attack so far broke at budget e: the fixed-budget attacks, the
  // minimum-norm attacks where their perturbation (in the audit's norm) fits the budget, and the
  // masking check's attacks at the main budget and above (the balls are nested).
  const auto broken_by_at = [&](size_t e) {
    std::vector<std::pair<std::string, torch::Tensor>> by;
    for (const auto& [name, budgets] : outcomes)
      by.emplace_back(name, budgets[e].success & clean_correct);
    for (const auto& [name, success, dist] : min_norm_hits) {
      torch::Tensor d = torch::zeros({n}, torch::kBool);
      d.narrow(0, 0, success.size(0)).copy_(success & dist.le(o.eps[e] * (1 + 1e-6) + 1e-7));
      by.emplace_back(name, d & clean_correct);
    }
    if (masking_broken.defined() && o.eps[e] >= o.main_eps)
      by.emplace_back("masking-check", masking_broken & clean_correct);
    return by;
  };

  // 4b. A masked or suspect model: the adaptive attacks that broke its points in the check run
  // on every example the other attacks left robust, at every budget. Its headline figure must
  // come from the attacks that work on it, not from those it fools.
  nlohmann::json adaptive = {{"ran", false}};
  std::vector<std::pair<std::string, std::vector<torch::Tensor>>> adaptive_hits;  // [budget][N]
  const std::string verdict = masking.value("verdict", std::string());
  if (verdict == "masked" || verdict == "suspect") {
    const LadderFacts facts = masking.value("ladder_facts", LadderFacts{});
    const Ladder ladder = build_ladder(model, masking_options, facts);
    std::vector<const Rung*> chosen;
    nlohmann::json not_rebuilt = nlohmann::json::array();
    for (const auto& r : masking["retries"]) {
      if (r["broken"].get<int64_t>() == 0) continue;
      const auto it = std::find_if(ladder.rungs.begin(), ladder.rungs.end(), [&](const Rung& g) {
        return r["step"] == g.step && r["attack"] == g.attack;
      });
      if (it == ladder.rungs.end()) {
        not_rebuilt.push_back(r["step"].get<std::string>() + " " + r["attack"].get<std::string>());
      } else {
        chosen.push_back(&*it);
      }
    }
    adaptive = {{"ran", !chosen.empty()},
                {"verdict", verdict},
                {"why", chosen.empty()
                            ? "the masking verdict is " + verdict +
                                  " but no retry of its ladder broke a point: no adaptive attack "
                                  "to run on the other examples; the figures are an upper bound "
                                  "from attacks that may be fooled"
                            : "the masking verdict is " + verdict +
                                  ": the retries that broke points in the check run on every "
                                  "example the other attacks left robust, at every budget"},
                {"majority_vote_passes", facts.randomised ? masking_options.vote_passes : 1},
                {"attacks", nlohmann::json::array()}};
    if (!not_rebuilt.empty()) {
      // Should not happen (the resume key holds what the ladder depends on); said, not hidden.
      adaptive["not_rebuilt"] = not_rebuilt;
      adaptive["why"] = adaptive["why"].get<std::string>() +
                        "; some retries that broke points could not be rebuilt here (see "
                        "not_rebuilt): the figures may be too high";
    }
    a.stage_count_ += static_cast<int>(chosen.size());
    for (size_t k = 0; k < chosen.size(); ++k) {
      const Rung& rung = *chosen[k];
      const std::string label = rung.step + " " + rung.attack;
      a.begin("adaptive " + label + " (masking verdict " + verdict + ")");
      const torch::Tensor still = [&] {
        torch::Tensor b = torch::zeros({n}, torch::kBool);
        for (const auto& [name, mask] : broken_by_at(0)) b |= mask;
        for (const auto& [name, hits] : adaptive_hits) b |= hits[0];
        return clean_correct & ~b;
      }();
      const torch::Tensor rows = still.nonzero().squeeze(1);
      std::vector<torch::Tensor> hits;
      for (size_t e = 0; e < o.eps.size(); ++e) hits.push_back(torch::zeros({n}, torch::kBool));
      nlohmann::json entry = {{"step", rung.step},
                              {"attack", rung.attack},
                              {"examples_attacked", rows.numel()},
                              {"broken", nlohmann::json::array()}};
      if (rows.numel() > 0) {
        const auto make = [&](double eps) -> std::unique_ptr<Attack> {
          std::unique_ptr<Attack> inner = rung.make(eps);
          if (rung.crafted_on == nullptr) return inner;
          return std::make_unique<TransferAttack>(std::move(inner), *rung.crafted_on);
        };
        const ChunkedRun run =
            a.chunked("adaptive-" + std::to_string(k), make, o.eps, rows, false,
                      std::max(passes, facts.randomised ? masking_options.vote_passes : 1));
        for (size_t e = 0; e < o.eps.size(); ++e) {
          hits[e].index_put_({rows}, run.budgets[e].success);
          entry["broken"].push_back(
              {{"eps", o.eps[e]}, {"examples", run.budgets[e].success.sum().item<int64_t>()}});
        }
        entry["seconds"] = run.seconds;
        entry["parameters"] =
            run.parameters.empty() ? nlohmann::json(nullptr) : run.parameters.back();
        stage_seconds["adaptive-" + std::to_string(k)] = run.seconds;
      }
      adaptive["attacks"].push_back(entry);
      adaptive_hits.emplace_back("adaptive " + label, hits);
    }
  }

  // Worst case per example at each budget over every attack.
  nlohmann::json worst = nlohmann::json::array();
  double main_robust = 0.0;
  std::string main_from;
  // Nested balls: a point found within a smaller budget lies within every larger one. (Each
  // attack's sweep keeps it already; on a randomised model, whose budgets are judged apart, this
  // carries a break upward.)
  torch::Tensor broken_below = torch::zeros({n}, torch::kBool);
  for (size_t e = 0; e < o.eps.size(); ++e) {
    torch::Tensor broken = broken_below.clone();
    std::vector<std::pair<std::string, torch::Tensor>> by = broken_by_at(e);
    for (const auto& [name, hits] : adaptive_hits) by.emplace_back(name, hits[e] & clean_correct);
    for (const auto& [name, mask] : by) broken |= mask;
    nlohmann::json broken_by = nlohmann::json::object(), only_by = nlohmann::json::object();
    for (const auto& [name, mask] : by) {
      torch::Tensor others = torch::zeros({n}, torch::kBool);
      for (const auto& [other, m] : by)
        if (other != name) others |= m;
      broken_by[name] = mask.sum().item<int64_t>();
      only_by[name] = (mask & ~others).sum().item<int64_t>();
    }
    nlohmann::json sets = nlohmann::json::array({"standard"});
    if (!min_norm_hits.empty()) sets.push_back("min-norm");
    if (masking_broken.defined() && o.eps[e] >= o.main_eps) sets.push_back("masking-check");
    if (!adaptive_hits.empty()) sets.push_back("adaptive");
    broken_below = broken;
    const torch::Tensor robust = clean_correct & ~broken;
    const double acc = fraction(robust);
    if (o.eps[e] == o.main_eps) {
      main_robust = acc;
      for (const auto& set : sets)
        main_from += (main_from.empty() ? "" : " + ") + set.get<std::string>();
    }
    worst.push_back({{"eps", o.eps[e]},
                     {"robust_accuracy", acc},
                     {"robust_examples", robust.sum().item<int64_t>()},
                     {"attack_sets", sets},
                     {"per_class_robust_accuracy", per_class(robust, y, classes)},
                     {"broken_by", broken_by},
                     {"only_broken_by", only_by}});
  }

  // 5. Numerical exploitation.
  a.begin("numerical probes");
  if (!store.json("numerical")) {
    NumericalOptions no;
    no.examples = p.numerical_examples;
    no.batch_size = o.batch_size;
    no.seed = o.seed;
    a.seed_global_generator("numerical");
    a.save("numerical", to_json(probe_numerics(model, data, no)));
  }
  const nlohmann::json numerical = *store.json("numerical");
  stage_seconds["numerical"] = numerical["seconds"];

  // 6. Convergence: sharpness of the minimum.
  nlohmann::json sharpness = {{"skipped", true}, {"reason", "--skip sharpness"}};
  if (o.sharpness) {
    a.begin("sharpness (Hessian power iteration, weight perturbations)");
    if (!store.json("sharpness")) {
      SharpnessOptions so;
      so.examples = p.sharpness_examples;
      so.batch_size = o.batch_size;
      so.power_iterations = p.sharpness_iterations;
      so.perturbation_pairs = p.sharpness_pairs;
      so.seed = o.seed;
      SharpnessReport r;
      a.seed_global_generator("sharpness");
      try {
        r = measure_sharpness(model, data, so);
      } catch (const std::exception& e) {
        // No weights (a frozen module), or double backward unsupported or out of memory.
        a.save("sharpness", {{"skipped", true}, {"reason", short_message(e)}});
      }
      if (!store.json("sharpness")) {
        nlohmann::json pert = nlohmann::json::array();
        for (const auto& f : r.perturbation)
          pert.push_back({{"rho", f.rho},
                          {"mean_loss_increase", f.mean_increase},
                          {"std_loss_increase", f.std_increase},
                          {"max_loss_increase", f.max_increase},
                          {"pairs", so.perturbation_pairs}});
        a.save("sharpness",
               {{"examples", r.examples},
                {"loss", r.loss},
                {"top_hessian_eigenvalue", r.top_eigenvalue},
                {"power_iterations", r.iterations},
                {"converged", r.converged},
                {"tolerance", so.tolerance},
                {"weight_perturbation", pert},
                {"seconds", r.seconds},
                {"how_to_read",
                 "The top Hessian eigenvalue is the loss curvature along the sharpest weight "
                 "direction: larger means a sharper minimum. Power iteration finds the "
                 "eigenvalue of largest magnitude: a negative value means the model does not sit "
                 "in a minimum (a saddle or concave direction dominates). It changes with the "
                 "weights' scale "
                 "(Dinh et al. 2017), so compare models of one architecture and loss. The weight "
                 "perturbation figure is scale-free: the mean loss increase when every parameter "
                 "tensor moves by rho times its norm in a random direction; flat minima lose "
                 "little."}});
      }
    }
    sharpness = *store.json("sharpness");
    if (sharpness.contains("seconds")) stage_seconds["sharpness"] = sharpness["seconds"];
  }

  double total = 0.0;
  for (const auto& [k, v] : stage_seconds.items()) total += v.get<double>();
  nlohmann::json model_info = o.model_info;
  int64_t params = 0;
  for (const auto& t : model.parameters()) params += t.numel();
  model_info["parameters"] = params;
  model_info["input_shape"] = probe.input_shape;
  model_info["outputs"] = probe.num_classes;
  model_info["output_looks_like_probabilities"] = probe.looks_like_probabilities;
  model_info["input_range"] = {lo, hi};
  model_info["device"] = model.device().str();

  nlohmann::json& rep = result.report;
  rep["schema"] = "advtk-audit/1";
  rep["model"] = model_info;
  rep["data"] = data_info;
  rep["settings"] = settings;
  rep["clean_accuracy"] = clean["accuracy"];
  rep["randomised"] = {
      {"detected", randomised},
      {"vote_passes", passes},
      {"eot", eot},
      {"how_to_read",
       randomised ? "the model's outputs change between passes: clean accuracy is the expected "
                    "accuracy of one pass over " +
                        std::to_string(passes) +
                        " passes; an example counts as correct, and as broken, only by a "
                        "majority of that many passes; the gradient attacks average " +
                        std::to_string(eot) + " passes per step (EOT)"
                  : "deterministic: one pass decides"}};
  rep["clean"] = {{"per_class_accuracy", clean["per_class_accuracy"]},
                  {"mean_loss", clean["mean_loss"]},
                  {"confusion", [&] {
                     nlohmann::json rows = nlohmann::json::array();
                     const torch::Tensor cm = clean_t.at("confusion");
                     for (int64_t r = 0; r < cm.size(0); ++r) {
                       std::vector<int64_t> row(cm.size(1));
                       for (int64_t c = 0; c < cm.size(1); ++c) row[c] = cm[r][c].item<int64_t>();
                       rows.push_back(row);
                     }
                     return rows;
                   }()}};
  rep["attacks"] = attack_entries;
  rep["worst_case"] = worst;
  rep["main_eps"] = o.main_eps;
  rep["main_robust_accuracy"] = main_robust;
  rep["main_robust_accuracy_from"] = main_from;
  rep["skipped_attacks"] = skipped_attacks;
  {
    // AutoAttack's sanity checks; Square's: what it alone broke at the main budget among the
    // standard attacks (all white-box but it).
    a.seed_global_generator("checks");
    std::vector<SanityCheck> checks = autoattack_checks(model, data, o.batch_size);
    for (const auto& [name, budgets] : outcomes) {
      if (name != "square") continue;
      const size_t e = static_cast<size_t>(main_it - o.eps.begin());
      torch::Tensor white_box = torch::zeros({n}, torch::kBool);
      for (const auto& [other, b] : outcomes)
        if (other != "square") white_box |= b[e].success;
      const torch::Tensor left = clean_correct & ~white_box;
      checks.push_back(square_check((budgets[e].success & left).sum().item<int64_t>(),
                                    left.sum().item<int64_t>()));
    }
    rep["checks"] = to_json(checks);
  }
  rep["adaptive"] = adaptive;
  rep["min_norm"] = min_norm;
  rep["fragile_examples"] = fragile;
  rep["masking"] = masking;
  rep["numerical"] = numerical;
  rep["sharpness"] = sharpness;
  rep["environment"] = {{"advtk", ADVTK_VERSION},
                        {"libtorch", TORCH_VERSION},
                        {"blas", blas_library()},
                        {"threads", at::get_num_threads()},
                        {"cuda_available", torch::cuda::is_available()},
                        {"device", model.device().str()},
                        {"stage_seconds", stage_seconds},
                        {"seconds", total},
                        {"wall_seconds_this_run", seconds_since(start)}};
  return result;
}

}  // namespace advtk
