#include "attacks/attack_runner.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "eval/prediction.h"

namespace advtk {
namespace {

struct CleanPass {
  torch::Tensor logits;  // [N, K] CPU
  torch::Tensor pred;    // [N] CPU
};

CleanPass clean_pass(const Model& model, const torch::Tensor& x, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> logits;
  for (int64_t start = 0; start < x.size(0); start += batch_size) {
    const int64_t end = std::min(x.size(0), start + batch_size);
    logits.push_back(model.logits(x.slice(0, start, end)).detach().to(torch::kCPU, torch::kFloat));
  }
  CleanPass c;
  c.logits = torch::cat(logits);
  c.pred = predicted_class(c.logits);
  return c;
}

bool is_out_of_memory(const std::exception& e) {
  return std::string(e.what()).find("out of memory") != std::string::npos;
}

// Runs a batch; when the device runs out of memory, runs its halves instead (and so on down).
AttackResult run_splitting_on_oom(Attack& attack, const Model& model, const AttackBatch& batch) {
  const int64_t n = batch.x.size(0);
  try {
    AttackResult r = attack.run(model, batch);
    confirm_result(model, batch, attack.norm(), attack.budget(), r);
    return r;
  } catch (const std::exception& e) {
    if (!is_out_of_memory(e) || n < 2) throw;
    spdlog::warn("out of memory on a batch of {}: splitting it in two", n);
  }
  const auto part = [&](int64_t begin, int64_t end) {
    const auto rows = torch::arange(
        begin, end, torch::TensorOptions().dtype(torch::kLong).device(batch.x.device()));
    return run_splitting_on_oom(attack, model, select_examples(batch, rows));
  };
  const AttackResult a = part(0, n / 2), b = part(n / 2, n);
  AttackResult r;
  r.x_adv = torch::cat({a.x_adv, b.x_adv});
  r.success = torch::cat({a.success, b.success});
  r.pred = torch::cat({a.pred, b.pred});
  r.distance = torch::cat({a.distance, b.distance});
  r.forward_calls = torch::cat({a.forward_calls, b.forward_calls});
  r.backward_calls = torch::cat({a.backward_calls, b.backward_calls});
  if (a.broken_by.defined()) r.broken_by = torch::cat({a.broken_by, b.broken_by});
  r.claimed = torch::cat({a.claimed, b.claimed});
  return r;
}

// The L1, L2 and L∞ distances of each row of `x_adv` to `x` (CPU), bit for bit those of one
// reduction over every row of the run: LibTorch may split a reduction with a single output row
// over the threads (another summation order), so a batch of one is measured beside a copy.
std::array<torch::Tensor, 3> row_distances(const torch::Tensor& x_adv, const torch::Tensor& x) {
  const bool one = x_adv.size(0) == 1;
  const torch::Tensor a = one ? torch::cat({x_adv, x_adv}) : x_adv;
  const torch::Tensor b = one ? torch::cat({x, x}) : x;
  std::array<torch::Tensor, 3> d = {distance(Norm::L1, a, b), distance(Norm::L2, a, b),
                                    distance(Norm::Linf, a, b)};
  for (torch::Tensor& t : d) t = t.to(torch::kFloat).slice(0, 0, x_adv.size(0));
  return d;
}

// The rows of `pending` that batches [first, last) cover.
torch::Tensor batch_rows(const torch::Tensor& pending, int64_t first, int64_t last,
                         int64_t batch_size) {
  return pending.slice(0, std::min(pending.numel(), first * batch_size),
                       std::min(pending.numel(), last * batch_size));
}

// After a budget: every rank's rows (the batches [first, last) of its share of `pending`) go to
// every rank, so that all hold the whole run again (x_adv only when it is kept in memory).
void exchange_rows(AttackRun& run, const torch::Tensor& pending, int64_t batch_size,
                   const ProcessGroup& group) {
  if (group.alone()) return;
  const int64_t batches = (pending.numel() + batch_size - 1) / batch_size;
  const bool kept = run.x_adv.defined();
  for (int r = 0; r < group.size(); ++r) {
    const auto [first, last] = share_of(batches, r, group.size());
    const torch::Tensor rows = batch_rows(pending, first, last, batch_size);
    if (rows.numel() == 0) continue;
    const auto at = [&](const torch::Tensor& t) { return t.index_select(0, rows); };
    torch::Tensor x_adv = kept ? at(run.x_adv).contiguous() : torch::Tensor();
    std::vector<torch::Tensor> count_rows = {at(run.pred_adv), at(run.broken_by),
                                             at(run.forward_calls), at(run.backward_calls)};
    if (!kept) count_rows.push_back(at(run.x_adv_budget));
    torch::Tensor counts = torch::stack(count_rows).contiguous();
    torch::Tensor flags = torch::stack({at(run.success), at(run.claimed)}).contiguous();
    torch::Tensor distances =
        torch::stack({at(run.distance), at(run.l1), at(run.l2), at(run.linf)}).contiguous();
    for (torch::Tensor* t : {&counts, &flags, &distances}) group.broadcast(*t, r);
    if (kept) {
      group.broadcast(x_adv, r);
      run.x_adv.index_copy_(0, rows, x_adv);
    }
    run.pred_adv.index_copy_(0, rows, counts[0]);
    run.broken_by.index_copy_(0, rows, counts[1]);
    run.forward_calls.index_copy_(0, rows, counts[2]);
    run.backward_calls.index_copy_(0, rows, counts[3]);
    if (!kept) run.x_adv_budget.index_copy_(0, rows, counts[4]);
    run.success.index_copy_(0, rows, flags[0]);
    run.claimed.index_copy_(0, rows, flags[1]);
    run.distance.index_copy_(0, rows, distances[0]);
    run.l1.index_copy_(0, rows, distances[1]);
    run.l2.index_copy_(0, rows, distances[2]);
    run.linf.index_copy_(0, rows, distances[3]);
  }
}

// Without x_adv in memory, rank 0 writes the outputs from its store: the batches of budget `e`
// it cannot see there (the ranks do not share a folder) come to it one at a time, from their
// rank to it alone.
void send_batches_to_leader(size_t e, const torch::Tensor& pending, int64_t batch_size,
                            const ProcessGroup& group, const AttackBatchStore& store) {
  if (group.alone()) return;
  const int64_t batches = (pending.numel() + batch_size - 1) / batch_size;
  torch::Tensor missing = torch::zeros({group.size()}, torch::kLong);
  if (group.rank() == 0)
    for (int r = 1; r < group.size(); ++r) {
      const auto [first, last] = share_of(batches, r, group.size());
      for (int64_t k = first; k < last; ++k)
        if (!store.holds(e, k)) missing[r] = 1;
    }
  group.broadcast(missing, 0);
  for (int r = 1; r < group.size(); ++r) {
    if (missing[r].item<int64_t>() == 0 || (group.rank() != 0 && group.rank() != r)) continue;
    const auto [first, last] = share_of(batches, r, group.size());
    for (int64_t k = first; k < last; ++k) {
      if (group.rank() == r)
        group.send_tensors(store.read(e, k), 0);
      else
        store.save(e, k, group.receive_tensors(r));
    }
  }
}

}  // namespace

std::vector<AttackRun> run_attack(const Model& model, const Dataset& data,
                                  const AttackFactory& factory, std::vector<double> budgets,
                                  const AttackRunOptions& options, const RunProgress& progress) {
  ADVTK_CHECK(options.batch_size > 0, "--batch-size: expected a positive number");
  ADVTK_CHECK(!budgets.empty(), "--eps: expected at least one budget");
  ADVTK_CHECK(options.shard_count >= 1 && options.shard_index >= 0 &&
                  options.shard_index < options.shard_count,
              "--shard: expected i/n with 0 <= i < n, got ", options.shard_index, "/",
              options.shard_count);
  TORCH_INTERNAL_ASSERT(options.keep_x_adv || options.store != nullptr,
                        "run_attack: x_adv outside memory needs a store");
  const ProcessGroup& group = group_or_alone(options.group);
  const bool grouped = !group.alone();
  ADVTK_CHECK(options.shard_count == 1 || !grouped,
              "--shard: a launcher's processes share the work already; use one or the other");
  for (double eps : budgets) ADVTK_CHECK(eps >= 0, "--eps: expected budgets >= 0, got ", eps);
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  ADVTK_CHECK(options.shard_count == 1 || budgets.size() == 1,
              "--shard: one budget per job (--eps E): which examples a larger budget attacks "
              "depends on every shard's results at the smaller one (processes started by a "
              "launcher such as torchrun share a sweep)");
  {
    const std::unique_ptr<Attack> first = factory(budgets.front());
    if (!first->minimum_norm() && data.size() > 0)
      check_budget_within_box(budgets.back(), first->norm(),
                              model.options().input_hi - model.options().input_lo,
                              data.images[0].numel());
  }

  const int64_t n = data.size();
  const torch::Device device = model.device();
  const torch::Tensor x = model.from_unit_range(data.images);
  const torch::Tensor ids = data.example_ids();
  const CleanPass clean = clean_pass(model, x, options.batch_size);
  const torch::Tensor target =
      choose_targets(options.target, clean.logits, data.labels, ids, options.seed);
  const bool targeted = target.defined();

  std::vector<AttackRun> runs;
  for (size_t e = 0; e < budgets.size(); ++e) {
    const double eps = budgets[e];
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<Attack> attack = factory(eps);
    AttackRun run;
    run.eps = eps;
    run.parameters = attack->description();
    run.x = x;
    run.y = data.labels;
    run.target = target;
    run.clean_pred = clean.pred;
    torch::Tensor done = torch::zeros({n}, torch::kBool);
    if (runs.empty()) {
      if (options.keep_x_adv)
        run.x_adv = x.clone();
      else
        run.x_adv_budget = torch::full({n}, -1, torch::kLong);
      for (torch::Tensor* d : {&run.l1, &run.l2, &run.linf}) *d = torch::zeros({n});
      run.pred_adv = clean.pred.clone();
      run.distance = torch::zeros({n});
      run.forward_calls = torch::ones({n}, torch::kLong);  // the clean pass
      run.backward_calls = torch::zeros({n}, torch::kLong);
      run.success = is_adversarial_pred(clean.pred, data.labels, target);
      run.broken_by = torch::full({n}, -1, torch::kLong);
      if (options.skip_misclassified && !targeted) done = run.success.clone();
      if (!options.skip_misclassified) run.success.zero_();
      run.claimed = run.success.clone();
    } else {
      // Broken at the previous (smaller) budget: still broken, with the same example.
      const AttackRun& prev = runs.back();
      if (prev.x_adv.defined()) run.x_adv = prev.x_adv.clone();
      if (prev.x_adv_budget.defined()) run.x_adv_budget = prev.x_adv_budget.clone();
      run.l1 = prev.l1.clone();
      run.l2 = prev.l2.clone();
      run.linf = prev.linf.clone();
      run.pred_adv = prev.pred_adv.clone();
      run.distance = prev.distance.clone();
      run.forward_calls = prev.forward_calls.clone();
      run.backward_calls = prev.backward_calls.clone();
      run.success = prev.success.clone();
      run.broken_by = prev.broken_by.clone();
      run.claimed = prev.claimed.clone();
      done = prev.success.clone();
    }
    const torch::Tensor pending = (~done).nonzero().squeeze(1);
    const int64_t total = pending.numel();
    const auto [first, last] = share_of((total + options.batch_size - 1) / options.batch_size,
                                        grouped ? group.rank() : options.shard_index,
                                        grouped ? group.size() : options.shard_count);
    const int64_t own_begin = std::min(total, first * options.batch_size);
    const int64_t own_end = std::min(total, last * options.batch_size);
    run.attacked_rows = pending.slice(0, own_begin, own_end);
    for (int64_t start = own_begin; start < own_end; start += options.batch_size) {
      const torch::Tensor rows =
          pending.slice(0, start, std::min(total, start + options.batch_size));
      const int64_t k = start / options.batch_size;
      std::optional<std::map<std::string, torch::Tensor>> outcome;
      if (options.store != nullptr) outcome = options.store->load(e, k);
      if (outcome) {
        ADVTK_CHECK(outcome->count("rows") && torch::equal(outcome->at("rows"), rows),
                    "--resume: the stored batch ", k, " at eps ", eps,
                    " holds other examples than this run attacks there (its store is another "
                    "run's)");
      } else {
        AttackBatch batch;
        batch.x = x.index_select(0, rows).to(device);
        batch.y = data.labels.index_select(0, rows).to(device);
        if (targeted) batch.target = target.index_select(0, rows).to(device);
        batch.index = ids.index_select(0, rows);
        batch.clean_pred = clean.pred.index_select(0, rows).to(device);
        const AttackResult r = run_splitting_on_oom(*attack, model, batch);
        outcome = {{"rows", rows},
                   {"x_adv", r.x_adv.detach().to(torch::kCPU, x.scalar_type())},
                   {"pred", r.pred.to(torch::kCPU)},
                   {"distance", r.distance.detach().to(torch::kCPU, torch::kFloat)},
                   {"success", r.success.to(torch::kCPU)},
                   {"claimed", r.claimed.to(torch::kCPU)},
                   {"forward_calls", r.forward_calls.to(torch::kCPU)},
                   {"backward_calls", r.backward_calls.to(torch::kCPU)}};
        if (r.broken_by.defined()) (*outcome)["broken_by"] = r.broken_by.to(torch::kCPU);
        if (options.store != nullptr) options.store->save(e, k, *outcome);
      }
      const auto& o = *outcome;
      // A targeted run that misses its target at this budget keeps an earlier example that was
      // already misclassified, so that robust accuracy (prediction = label) cannot rise with ε.
      const torch::Tensor success = o.at("success").to(torch::kBool);
      const torch::Tensor take =
          success | run.pred_adv.index_select(0, rows).eq(run.y.index_select(0, rows));
      const std::array<torch::Tensor, 3> d = row_distances(o.at("x_adv"), x.index_select(0, rows));
      if (run.x_adv.defined())
        update_rows(run.x_adv, rows, take, o.at("x_adv"));
      else
        update_rows(run.x_adv_budget, rows, take,
                    torch::full({rows.numel()}, static_cast<int64_t>(e), torch::kLong));
      update_rows(run.l1, rows, take, d[0]);
      update_rows(run.l2, rows, take, d[1]);
      update_rows(run.linf, rows, take, d[2]);
      update_rows(run.pred_adv, rows, take, o.at("pred"));
      update_rows(run.distance, rows, take, o.at("distance"));
      run.success.index_copy_(0, rows, success);
      run.claimed.index_copy_(0, rows, o.at("claimed").to(torch::kBool));
      if (o.count("broken_by")) update_rows(run.broken_by, rows, take, o.at("broken_by"));
      run.forward_calls.index_add_(0, rows, o.at("forward_calls"));
      run.backward_calls.index_add_(0, rows, o.at("backward_calls"));
      if (progress)
        progress(std::min(own_end, start + options.batch_size) - own_begin, own_end - own_begin,
                 eps);
    }
    if (own_end == own_begin && progress) progress(0, 0, eps);
    exchange_rows(run, pending, options.batch_size, group);
    if (!options.keep_x_adv)
      send_batches_to_leader(e, pending, options.batch_size, group, *options.store);
    run.parameters = attack->description();  // ensembles add the time each attack took
    // Like the call counters, the time is cumulative: the work behind this budget's result.
    run.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() +
        (runs.empty() ? 0.0 : runs.back().seconds);
    runs.push_back(std::move(run));
    if (attack->minimum_norm()) break;  // no budget: one run says everything
  }
  return runs;
}

}  // namespace advtk
