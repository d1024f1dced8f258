#include "audit/stage_runner.h"

#include <algorithm>

#include "core/error.h"
#include "core/seeding.h"
#include "eval/batched.h"

namespace advtk {
namespace {

// One budget's outcome as it is read back batch by batch, joined at the end.
struct BudgetPieces {
  std::vector<torch::Tensor> success, pred, l2, linf, l1, distance, x_adv;

  void add(const TensorMap& t, const std::string& e, bool keep_x_adv) {
    if (keep_x_adv) x_adv.push_back(t.at("x_adv_" + e));
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
    if (!x_adv.empty()) o.x_adv = torch::cat(x_adv);
  }
};

}  // namespace

AttackSetup AuditSetup::attack_setup() const {
  AttackSetup s;
  s.threat.norm = options.norm;
  s.threat.lo = lo();
  s.threat.hi = hi();
  s.seed = options.seed;
  return s;
}

void StageRunner::begin(const std::string& label) {
  ++index_;
  label_ = label;
  report(0, 0);
}

void StageRunner::report(int64_t done, int64_t total) const {
  if (progress_) progress_(label_, index_, count_, done, total);
}

void StageRunner::report_sub(const std::string& label) const {
  if (progress_) progress_(label, index_, count_, 0, 0);
}

void StageRunner::seed_global_generator(const std::string& name) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (const char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  torch::manual_seed(mix_seed(setup_.options.seed, h));
}

void StageRunner::save(const std::string& name, const nlohmann::json& j, const TensorMap& tensors) {
  store_.save(name, j, tensors);
  if (saved_) saved_(name);
}

nlohmann::json StageRunner::measured(
    const std::string& name, const std::function<nlohmann::json(TensorMap& tensors)>& measure) {
  if (!json(name)) {
    TensorMap tensors;
    nlohmann::json j;
    try {
      j = measure(tensors);
    } catch (const Error& e) {
      j = {{"skipped", true}, {"reason", e.what()}};
    }
    save(name, j, tensors);
  }
  return *json(name);
}

BatchedRun StageRunner::attack_in_batches(const std::string& stage, const AttackFactory& make,
                                          const std::vector<double>& budgets,
                                          const torch::Tensor& rows, bool keep_x_adv,
                                          int64_t judge_passes) {
  const int64_t n = rows.numel();
  BatchedRun out;
  out.budgets.resize(budgets.size());
  std::vector<BudgetPieces> pieces(budgets.size());
  const int64_t b = setup_.options.batch_size;
  const int64_t chunks = (n + b - 1) / b;
  const auto batch_name = [&](int64_t k) { return stage + "/batch-" + std::to_string(k); };
  // Which rank supplies each batch: the first that has it saved (a resumed run), else the one
  // whose share it is. Every rank then gets every batch into its own store.
  const ProcessGroup& group = group_or_alone(setup_.options.group);
  torch::Tensor have = torch::zeros({group.size(), chunks}, torch::kLong);
  for (int64_t k = 0; k < chunks; ++k)
    if (store_.has_tensors(batch_name(k))) have[group.rank()][k] = 1;
  group.all_reduce_sum(have);
  std::vector<int> source(static_cast<size_t>(chunks));
  for (int r = group.size() - 1; r >= 0; --r) {
    const auto [first, last] = share_of(chunks, r, group.size());
    for (int64_t k = first; k < last; ++k) source[k] = r;
  }
  const auto saved_by = have.accessor<int64_t, 2>();
  for (int64_t k = 0; k < chunks; ++k)
    for (int r = group.size() - 1; r >= 0; --r)
      if (saved_by[r][k] > 0) source[k] = r;

  for (int64_t k = 0; k < chunks; ++k) {
    if (source[k] != group.rank()) continue;
    report(k * b, n);
    const std::string name = batch_name(k);
    if (!store_.has_tensors(name)) {
      const int64_t m = std::min(b, n - k * b);
      const Dataset chunk = rows_of(setup_.data, rows.narrow(0, k * b, m));
      AttackRunOptions run_options;
      run_options.batch_size = b;
      run_options.seed = setup_.options.seed;
      // A randomised model draws from torch's global generator: seeded per batch, a resumed
      // audit draws what an uninterrupted one did.
      seed_global_generator(name);
      std::vector<AttackRun> runs;
      if (judge_passes == 1) {
        runs = run_attack(setup_.model, chunk, make, budgets, run_options);
      } else {
        // A randomised model: every example is attacked at every budget (one clean pass, or an
        // attack's own verdict, may be a lucky draw), and judged by a majority of passes. The
        // counts stay cumulative over the sweep, as run_attack's.
        run_options.skip_misclassified = false;
        for (double eps : budgets) {
          AttackRun r = run_attack(setup_.model, chunk, make, {eps}, run_options).front();
          r.success = majority_misclassified(setup_.model, r.x_adv, r.y, judge_passes, b);
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
      const nlohmann::json j = {{"seconds", seconds},
                                {"forward_calls", forward},
                                {"backward_calls", backward},
                                {"parameters", parameters}};
      save(name, j, map);
    }
  }
  if (!group.alone()) {
    // Each batch from its source to every rank: its JSON, then its tensors as they are (no
    // serialisation between).
    for (int64_t k = 0; k < chunks; ++k) {
      const std::string name = batch_name(k);
      const bool mine = source[k] == group.rank();
      TensorMap map;
      std::string text;
      if (mine) {
        map = *store_.tensors(name);
        text = store_.json(name)->dump();
      }
      std::vector<char> bytes(text.begin(), text.end());
      group.broadcast_bytes(bytes, source[k]);
      group.broadcast_tensors(map, source[k]);
      if (!mine && saved_by[group.rank()][k] == 0)
        save(name, nlohmann::json::parse(bytes.begin(), bytes.end()), map);
    }
  }
  for (int64_t k = 0; k < chunks; ++k) {
    // Continue from what was saved, exactly as a resumed run will.
    const std::string name = batch_name(k);
    const nlohmann::json j = *store_.json(name);
    const std::optional<TensorMap> t = store_.tensors(name);
    for (size_t e = 0; e < budgets.size(); ++e) {
      const std::string s = std::to_string(e);
      pieces[e].add(*t, s, keep_x_adv);
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
  return out;
}

}  // namespace advtk
