#include "training/trainer.h"

#include <chrono>
#include <set>

#include "core/error.h"
#include "core/seeding.h"
#include "eval/evaluation.h"
#include "training/checkpoint.h"

namespace advtk {
namespace {

// Batches between progress reports: each report syncs with the device once.
constexpr int64_t kReportEvery = 10;

void validate(const TrainOptions& o) {
  ADVTK_CHECK(o.epochs > 0, "--epochs: expected a positive number, got ", o.epochs);
  ADVTK_CHECK(o.batch_size > 0, "--batch-size: expected a positive number, got ", o.batch_size);
  ADVTK_CHECK(o.clip_grad_norm >= 0, "--clip-grad-norm: expected >= 0, got ", o.clip_grad_norm);
  ADVTK_CHECK(!o.resume || !o.checkpoint_dir.empty(), "--resume needs an output directory");
}

// Whether `a` is a better epoch to keep than `b` (KeepPolicy::Best's rule; b null: none yet).
// An epoch without any validation figure never qualifies.
bool better_epoch(const EpochRecord& a, const EpochRecord* b, const std::string& rank) {
  if (!a.val_accuracy && !a.metric(rank)) return false;
  if (b == nullptr) return true;
  const auto key = [&](const EpochRecord& r) {
    constexpr double none = -1.0;
    return std::make_pair(r.metric(rank).value_or(none), r.val_accuracy.value_or(none));
  };
  return key(a) > key(*b);
}

// The fields of a record's JSON that are not metrics.
const std::set<std::string> kRecordFields = {"epoch",          "lr",         "train_loss",
                                             "train_accuracy", "seconds",    "val_loss",
                                             "val_accuracy",   "stop_reason"};

}  // namespace

nlohmann::json to_json(const EpochRecord& r) {
  nlohmann::json j = {{"epoch", r.epoch},
                      {"lr", r.lr},
                      {"train_loss", r.train_loss},
                      {"train_accuracy", r.train_accuracy},
                      {"seconds", r.seconds}};
  const auto optional = [](const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json();
  };
  j["val_loss"] = optional(r.val_loss);
  j["val_accuracy"] = optional(r.val_accuracy);
  for (const auto& [name, value] : r.metrics) j[name] = value;
  j["stop_reason"] = r.stop_reason;
  return j;
}

EpochRecord epoch_record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<int64_t>();
  r.lr = j.at("lr").get<double>();
  r.train_loss = j.at("train_loss").get<double>();
  r.train_accuracy = j.at("train_accuracy").get<double>();
  r.seconds = j.at("seconds").get<double>();
  const auto optional = [&](const char* key, std::optional<double>& out) {
    if (j.contains(key) && !j.at(key).is_null()) out = j.at(key).get<double>();
  };
  optional("val_loss", r.val_loss);
  optional("val_accuracy", r.val_accuracy);
  for (const auto& [key, value] : j.items())
    if (kRecordFields.count(key) == 0 && value.is_number()) r.metrics[key] = value.get<double>();
  r.stop_reason = j.value("stop_reason", std::string());
  return r;
}

namespace {

// Sums the gradients, with the batch's loss sum and correct count appended, over the ranks in
// one flat bucket, in place. A parameter without a gradient (this rank's part was empty) takes
// part with zeros, so every rank's bucket has the same layout. The bucket lies on the CPU in
// double (Gloo's side: the sum barely depends on the order), or with `on_device` on the GPU for
// NCCL, in the gradients' precision (float unless they are double): the bytes moved per step are
// the model's size.
void all_reduce_gradients(Model& model, torch::Tensor& batch_loss, torch::Tensor& batch_correct,
                          const ProcessGroup& group, bool on_device) {
  auto bucket_options = torch::TensorOptions().dtype(torch::kDouble).device(torch::kCPU);
  if (on_device) {
    bool any_double = false;
    for (const auto& p : model.parameters()) any_double |= p.scalar_type() == torch::kDouble;
    bucket_options =
        bucket_options.device(model.device()).dtype(any_double ? torch::kDouble : torch::kFloat);
  }
  std::vector<torch::Tensor> parts;
  for (auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    parts.push_back(p.grad().flatten().to(bucket_options));
  }
  parts.push_back(batch_loss.to(bucket_options).view({1}));
  parts.push_back(batch_correct.to(bucket_options).view({1}));
  torch::Tensor bucket = torch::cat(parts);
  group.all_reduce_sum(bucket);
  int64_t at = 0;
  for (auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    const int64_t k = p.grad().numel();
    p.mutable_grad().copy_(bucket.slice(0, at, at + k).view_as(p.grad()));
    at += k;
  }
  batch_loss = bucket[at].to(batch_loss.device(), torch::kDouble);
  batch_correct = bucket[at + 1].round().to(batch_correct.device(), torch::kLong);
}

}  // namespace

TrainResult train(Model& model, const Dataset& train_data, const Dataset* validation,
                  TrainingObjective& objective, const TrainOptions& options,
                  const TrainCallbacks& callbacks) {
  validate(options);
  const int64_t n = train_data.size();
  ADVTK_CHECK(n > 0, train_data.source, ": no training examples");
  const int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  const int64_t total_steps = steps_per_epoch * options.epochs;
  auto optimizer = make_optimizer(model.parameters(), options.optimizer);

  TrainResult result;
  CheckpointState state;
  state.config = options.config;
  ModelState best;  // the best epoch's model, for KeepPolicy::Best
  if (options.resume) {
    state = load_checkpoint(options.checkpoint_dir, model, *optimizer);
    ADVTK_CHECK(state.stop_reason.empty(), "--resume: the run in ", options.checkpoint_dir,
                " already ended at epoch ", state.history.size(), " (", state.stop_reason, ")");
    for (const auto& j : state.history) result.history.push_back(epoch_record_from_json(j));
    ADVTK_CHECK(state.epochs_done <= options.epochs, "--resume: the checkpoint has ",
                state.epochs_done, " epochs done, more than --epochs ", options.epochs);
    if (state.best_epoch > 0 && options.keep == KeepPolicy::Best)
      best = load_best_state(options.checkpoint_dir, model.device());
  }
  result.first_epoch = state.epochs_done + 1;
  result.best_epoch = state.best_epoch;
  // The model before the epoch in progress: what a stopped run falls back to.
  ModelState last_good;

  const torch::Device device = model.device();
  const ProcessGroup& group = group_or_alone(options.group);
  const bool sum_on_device =
      device.is_cuda() && !group.alone() && group.device_exchange(device).direct;
  if (!group.alone()) {
    // Every rank starts from rank 0's parameters and buffers, as DDP does.
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> state_tensors = model.parameters();
    for (const auto& b : model.module().buffers()) state_tensors.push_back(b);
    for (auto& p : state_tensors) {
      torch::Tensor t = p.detach().to(torch::kCPU).contiguous();
      group.broadcast(t, 0);
      p.copy_(t);
    }
  }
  for (int64_t epoch = state.epochs_done + 1; epoch <= options.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    if (options.epoch_check) last_good = capture_state(model.module());
    // The order depends on (seed, epoch) only, so a resumed run sees the same batches.
    auto gen = make_generator(options.seed, 1000 + static_cast<uint64_t>(epoch));
    const torch::Tensor order = torch::randperm(n, gen, torch::kLong);
    torch::Tensor loss_sum =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
    torch::Tensor correct =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
    double lr = 0;
    {
      TrainingScope scope(model);
      for (int64_t b = 0; b < steps_per_epoch; ++b) {
        const int64_t step = (epoch - 1) * steps_per_epoch + b;
        lr = learning_rate_at(options.schedule, options.optimizer.lr, step, steps_per_epoch,
                              total_steps);
        set_learning_rate(*optimizer, lr);
        const int64_t start = b * options.batch_size;
        const int64_t end = std::min(n, start + options.batch_size);
        // This rank's part of the batch (all of it in one process).
        const auto [from, to] = share_of(end - start, group.rank(), group.size());
        TrainBatch batch;
        batch.index = order.slice(0, start + from, start + to);
        batch.x = model.from_unit_range(train_data.images.index_select(0, batch.index)).to(device);
        batch.y = train_data.labels.index_select(0, batch.index).to(device);
        batch.epoch = epoch;
        batch.progress = static_cast<double>(epoch - 1) +
                         static_cast<double>(b + 1) / static_cast<double>(steps_per_epoch);

        optimizer->zero_grad();
        // Each rank back-propagates its part's mean weighted by its share (all of it alone):
        // summed over the ranks, that is the batch's gradient.
        torch::Tensor batch_loss = torch::zeros({}, loss_sum.options());
        torch::Tensor batch_correct = torch::zeros({}, correct.options());
        if (to > from) {
          const BatchLoss out = objective.compute(model, batch);
          if (group.alone())
            out.loss.backward();
          else
            (out.loss * (static_cast<double>(to - from) / static_cast<double>(end - start)))
                .backward();
          torch::NoGradGuard no_grad;
          batch_loss = out.loss.detach().to(torch::kDouble) * (to - from);
          batch_correct = out.logits.detach().argmax(1).eq(batch.y).sum();
        }
        if (!group.alone())
          all_reduce_gradients(model, batch_loss, batch_correct, group, sum_on_device);
        if (options.clip_grad_norm > 0) {
          torch::nn::utils::clip_grad_norm_(model.parameters(), options.clip_grad_norm);
        }
        optimizer->step();

        torch::NoGradGuard no_grad;
        loss_sum += batch_loss;
        correct += batch_correct;
        if ((b + 1) % kReportEvery == 0 || b + 1 == steps_per_epoch) {
          const double mean_loss = loss_sum.item<double>() / end;
          ADVTK_CHECK(std::isfinite(mean_loss), "training diverged in epoch ", epoch,
                      " (the loss is ", mean_loss, "); lower --lr or set --clip-grad-norm");
          if (callbacks.on_batch) {
            callbacks.on_batch({epoch, options.epochs, end, n, mean_loss,
                                static_cast<double>(correct.item<int64_t>()) / end, lr});
          }
        }
      }
    }
    EpochRecord record;
    record.epoch = epoch;
    record.lr = lr;
    record.train_loss = loss_sum.item<double>() / n;
    record.train_accuracy = static_cast<double>(correct.item<int64_t>()) / n;
    if (validation != nullptr) {
      const EvaluationResult val = evaluate(model, *validation, options.eval_batch_size);
      record.val_loss = val.mean_loss;
      record.val_accuracy = val.accuracy;
    }
    if (options.epoch_check) options.epoch_check(model, result.history, record);
    record.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.history.push_back(record);
    state.history.push_back(to_json(record));
    CheckpointWrite write = CheckpointWrite::Model;
    if (!record.stop_reason.empty()) {
      state.stop_reason = record.stop_reason;
      write = CheckpointWrite::StateOnly;
    } else {
      state.epochs_done = epoch;
      const EpochRecord* current_best =
          state.best_epoch > 0 ? &result.history[state.best_epoch - 1] : nullptr;
      if (better_epoch(record, current_best, options.rank_metric)) {
        state.best_epoch = epoch;
        write = CheckpointWrite::ModelAndBest;
        if (options.keep == KeepPolicy::Best) best = capture_state(model.module());
      }
    }
    if (!options.checkpoint_dir.empty() && group.rank() == 0) {
      save_checkpoint(options.checkpoint_dir, model, *optimizer, state, write);
    }
    if (callbacks.on_epoch) callbacks.on_epoch(record);
    if (!record.stop_reason.empty()) break;
  }

  result.best_epoch = state.best_epoch;
  result.stop_reason = state.stop_reason;
  result.kept_epoch = state.epochs_done;
  if (options.keep == KeepPolicy::Best && state.best_epoch > 0) {
    if (state.best_epoch != state.epochs_done || !state.stop_reason.empty())
      restore_state(model, best, "the best epoch's model");
    result.kept_epoch = state.best_epoch;
  } else if (!state.stop_reason.empty() && !last_good.empty()) {
    restore_state(model, last_good, "the last good epoch's model");
  }
  return result;
}

}  // namespace advtk
