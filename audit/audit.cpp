#include "audit/audit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "audit/audit_stages.h"
#include "audit/stage_exchange.h"
#include "audit/stage_runner.h"
#include "audit/stage_store.h"
#include "core/blas.h"
#include "core/error.h"
#include "core/sha256.h"
#include "eval/evaluation.h"

namespace advtk {
namespace {

using Clock = std::chrono::steady_clock;

bool skips(const AuditOptions& o, const AuditStage& stage) {
  return !stage.skip_key().empty() && o.skip.count(stage.skip_key()) > 0;
}

// The rank that runs each whole-model stage of a split run (by stage index): largest estimated
// work first, each to the rank with the least so far (Graham's LPT rule), so Neural Cleanse does
// not share a rank with the rest when there are ranks enough.
std::map<size_t, int> whole_model_owners(const std::vector<std::unique_ptr<AuditStage>>& stages,
                                         const AuditOptions& o, int64_t examples, int64_t classes,
                                         int ranks) {
  std::vector<std::pair<double, size_t>> order;
  for (size_t i = 0; i < stages.size(); ++i)
    if (stages[i]->scope() == StageScope::WholeModel && !skips(o, *stages[i]))
      order.emplace_back(stages[i]->work(o, examples, classes), i);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<double> load(static_cast<size_t>(ranks), 0.0);
  std::map<size_t, int> owner;
  for (const auto& [work, i] : order) {
    const auto least = std::min_element(load.begin(), load.end());
    *least += work;
    owner[i] = static_cast<int>(least - load.begin());
  }
  return owner;
}

// Budgets ascending and unique, the main budget one of them (matched up to rounding: 8/255
// written two ways).
AuditOptions normalised(AuditOptions o, const std::vector<int64_t>& shape, double range) {
  ADVTK_CHECK(o.batch_size > 0, "--batch-size: expected a positive number, got ", o.batch_size);
  if (o.eps.empty()) o.eps = default_audit_budgets(o.norm, shape, range);
  for (double e : o.eps)
    ADVTK_CHECK(std::isfinite(e) && e > 0, "--eps: expected finite budgets > 0, got ", e);
  std::sort(o.eps.begin(), o.eps.end());
  o.eps.erase(std::unique(o.eps.begin(), o.eps.end()), o.eps.end());
  if (o.main_eps <= 0) o.main_eps = o.eps[o.eps.size() / 2];
  const auto main_it = std::find_if(o.eps.begin(), o.eps.end(), [&](double e) {
    return std::abs(e - o.main_eps) <= 1e-9 * std::max(1.0, std::abs(e));
  });
  ADVTK_CHECK(main_it != o.eps.end(), "--main-eps: ", o.main_eps,
              " is not one of the budgets (--eps)");
  o.main_eps = *main_it;
  return o;
}

MaskingOptions masking_options(const AuditOptions& o, double lo, double hi) {
  MaskingOptions m;
  m.threat = {o.norm, o.main_eps, lo, hi};
  m.points = o.plan.masking_points;
  m.expensive_points = o.plan.masking_expensive_points;
  m.batch_size = o.batch_size;
  m.group = o.group;
  m.pgd_steps = o.plan.masking_pgd_steps;
  m.apgd_steps = o.plan.masking_apgd_steps;
  m.square_queries = o.plan.masking_queries;
  m.noise_draws = o.plan.masking_noise_draws;
  m.surrogate = o.surrogate;
  m.bpda_model = o.bpda_model;
  m.seed = o.seed;
  return m;
}

// A stage's sections into the report: an array under a key already there is appended to.
void merge_sections(nlohmann::json& report, const nlohmann::json& sections) {
  for (const auto& [key, value] : sections.items()) {
    if (report.contains(key) && report[key].is_array() && value.is_array()) {
      for (const auto& v : value) report[key].push_back(v);
    } else {
      report[key] = value;
    }
  }
}

std::vector<std::string> skip_keys(const std::vector<std::unique_ptr<AuditStage>>& stages) {
  std::vector<std::string> keys;
  for (const auto& stage : stages) {
    const std::string k = stage->skip_key();
    if (!k.empty() && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  return keys;
}

void check_skip(const std::set<std::string>& skip, const std::vector<std::string>& keys) {
  for (const std::string& k : skip) {
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) continue;
    std::string expected;
    for (size_t i = 0; i < keys.size(); ++i)
      expected += (i == 0 ? "" : i + 1 == keys.size() ? " or " : ", ") + keys[i];
    throw Error("--skip: expected " + expected + ", got '" + k + "'");
  }
}

}  // namespace

std::vector<std::string> audit_skip_keys() { return skip_keys(audit_stages(AuditOptions{}, 10)); }

void check_skip_keys(const std::set<std::string>& skip) { check_skip(skip, audit_skip_keys()); }

double audit_work_estimate(const AuditOptions& o, int64_t examples, int64_t num_classes) {
  double work = 0.0;
  for (const auto& stage : audit_stages(o, num_classes))
    if (!skips(o, *stage)) work += stage->work(o, examples, num_classes);
  return work;
}

double audit_adaptive_work_estimate(const AuditOptions& o, int64_t examples, int64_t num_classes) {
  double work = 0.0;
  for (const auto& stage : audit_stages(o, num_classes))
    if (!skips(o, *stage)) work += stage->conditional_work(o, examples, num_classes);
  return work;
}

AuditResult run_audit(const Model& model, const Dataset& data, const AuditOptions& options,
                      const AuditProgress& progress, const AuditSaved& saved) {
  return run_audit_stages(model, data, options, audit_stages, progress, saved);
}

// The training set the training-security stage scans, by content; null when none was given.
static nlohmann::json train_data_info(const Dataset* train) {
  if (!train) return nullptr;
  return {{"source", train->source},
          {"examples", train->size()},
          {"sha256", tensor_sha256({train->images.to(torch::kFloat), train->labels.to(torch::kLong),
                                    train->example_ids().to(torch::kLong)})}};
}

AuditResult run_audit_stages(const Model& model, const Dataset& data, const AuditOptions& o_in,
                             const StageList& make_stages, const AuditProgress& progress,
                             const AuditSaved& saved) {
  const auto start = Clock::now();
  const int64_t n = data.size();
  ADVTK_CHECK(n > 0, "audit: the data has no examples");
  const double lo = model.options().input_lo, hi = model.options().input_hi;
  const std::vector<int64_t> shape(data.images.sizes().begin() + 1, data.images.sizes().end());
  const ProbeResult probe = model.probe(shape, 0);
  AuditSetup s(model, data, normalised(o_in, shape, hi - lo));
  const AuditOptions& o = s.options;
  s.main_index =
      static_cast<size_t>(std::find(o.eps.begin(), o.eps.end(), o.main_eps) - o.eps.begin());
  // A randomised model: every verdict is a majority over the masking check's passes, clean
  // accuracy is the expected accuracy of one pass, and the gradient attacks average 20 EOT passes.
  s.randomised = outputs_vary(model, data, o.batch_size);
  s.passes = s.randomised ? MaskingOptions{}.vote_passes : 1;
  s.eot = s.randomised ? 20 : 1;
  s.classes = std::max(data.num_classes(), probe.num_classes);
  s.ids = data.example_ids();
  s.masking = masking_options(o, lo, hi);
  nlohmann::json skipped_attacks;
  const std::vector<std::unique_ptr<AuditStage>> stages =
      make_stages(o, s.classes, &skipped_attacks);
  const std::vector<std::string> keys = skip_keys(stages);
  check_skip(o.skip, keys);

  nlohmann::json sections = nlohmann::json::object();
  for (const std::string& k : keys) {
    std::string key = k;
    std::replace(key.begin(), key.end(), '-', '_');
    sections[key] = o.skip.count(k) == 0;
  }
  const nlohmann::json settings = {
      {"budget", audit_budget_name(o.budget)},
      {"norm", norm_name(o.norm)},
      {"eps", o.eps},
      {"main_eps", o.main_eps},
      {"seed", o.seed},
      {"batch_size", o.batch_size},
      {"sections", sections},
      {"randomised", {{"detected", s.randomised}, {"vote_passes", s.passes}, {"eot", s.eot}}},
      {"plan", o.plan}};
  const nlohmann::json data_info = {
      {"source", data.source},
      {"examples", n},
      {"classes", s.classes},
      {"class_names", data.class_names},
      {"first_id", s.ids[0].item<int64_t>()},
      {"sha256", tensor_sha256({data.images.to(torch::kFloat), data.labels.to(torch::kLong),
                                s.ids.to(torch::kLong)})}};
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
      o.store_dir.empty() ? o.out : o.store_dir,
      {{"model", model_key},
       {"data", data_info},
       {"settings", settings},
       {"train_data", train_data_info(o.train_data)},
       // stages 2: the masking stage saves every break of the check; 3: and its points, and a
       // randomised model's attacks every budget's points
       {"versions", {{"advtk", ADVTK_VERSION}, {"libtorch", TORCH_VERSION}, {"stages", 3}}}},
      o.resume);

  int steps = 0;
  for (const auto& stage : stages)
    if (!skips(o, *stage)) steps += stage->progress_steps();
  StageRunner runner(s, store, progress, saved, steps);
  AuditState state;
  AuditResult result;
  nlohmann::json stage_seconds = nlohmann::json::object();
  const auto take = [&](StageOutput& out) {
    merge_sections(state.report, out.sections);
    for (const auto& [k, v] : out.seconds.items()) stage_seconds[k] = v;
    if (out.clean_correct.defined()) state.clean_correct = out.clean_correct;
    for (BreakRecord& b : out.breaks) state.breaks.push_back(std::move(b));
    for (auto& [name, bytes] : out.files) result.files[name] = std::move(bytes);
  };
  // In a split run each whole-model stage runs on one rank, all at once: they come after every
  // per-example stage and read only its records (and their own seeded generators), so what they
  // find does not depend on where or when they run. Their outputs then go to every rank, in
  // stage order.
  const ProcessGroup& group = group_or_alone(o.group);
  const std::map<size_t, int> owners =
      whole_model_owners(stages, o, s.examples(), s.classes, group.size());
  std::vector<std::pair<size_t, int>> whole_model;  // stage, rank that runs it
  std::vector<StageOutput> whole_model_out;
  for (size_t i = 0; i < stages.size(); ++i) {
    const AuditStage& stage = *stages[i];
    const bool skipped = skips(o, stage);
    if (!group.alone() && owners.count(i) > 0) {
      const int owner = owners.at(i);
      whole_model.emplace_back(i, owner);
      if (owner == group.rank()) {
        whole_model_out.push_back(stage.run(s, state, runner));
      } else {
        whole_model_out.emplace_back();
        for (int k = 0; k < stage.progress_steps(); ++k)
          runner.begin(concat(stage.name(), " on rank ", owner));
      }
      continue;
    }
    StageOutput out = skipped ? stage.skipped() : stage.run(s, state, runner);
    take(out);
  }
  if (!whole_model.empty()) {
    group.patient_barrier();
    for (size_t k = 0; k < whole_model.size(); ++k) {
      share_stage_output(whole_model_out[k], whole_model[k].second, group);
      take(whole_model_out[k]);
    }
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
  rep = state.report;
  rep["schema"] = "advtk-audit/1";
  rep["model"] = model_info;
  rep["data"] = data_info;
  rep["settings"] = settings;
  rep["skipped_attacks"] = skipped_attacks;
  rep["randomised"] = {
      {"detected", s.randomised},
      {"vote_passes", s.passes},
      {"eot", s.eot},
      {"how_to_read",
       s.randomised ? "the model's outputs change between passes: clean accuracy is the expected "
                      "accuracy of one pass over " +
                          std::to_string(s.passes) +
                          " passes; an example counts as correct, and as broken, only by a "
                          "majority of that many passes; the gradient attacks average " +
                          std::to_string(s.eot) + " passes per step (EOT)"
                    : "deterministic: one pass decides"}};
  rep["environment"] = {
      {"advtk", ADVTK_VERSION},
      {"libtorch", TORCH_VERSION},
      {"blas", blas_library()},
      {"threads", at::get_num_threads()},
      {"cuda_available", torch::cuda::is_available()},
      {"device", model.device().str()},
      {"stage_seconds", stage_seconds},
      {"seconds", total},
      {"wall_seconds_this_run", std::chrono::duration<double>(Clock::now() - start).count()}};
  return result;
}

}  // namespace advtk
