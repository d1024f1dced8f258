#include "training/trainer.h"

#include <chrono>

#include "audit/evaluation.h"
#include "core/error.h"
#include "core/seeding.h"
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

}  // namespace

nlohmann::json to_json(const EpochRecord& r) {
  nlohmann::json j = {{"epoch", r.epoch},
                      {"lr", r.lr},
                      {"train_loss", r.train_loss},
                      {"train_accuracy", r.train_accuracy},
                      {"seconds", r.seconds}};
  j["val_loss"] = r.val_loss ? nlohmann::json(*r.val_loss) : nlohmann::json();
  j["val_accuracy"] = r.val_accuracy ? nlohmann::json(*r.val_accuracy) : nlohmann::json();
  return j;
}

EpochRecord epoch_record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<int64_t>();
  r.lr = j.at("lr").get<double>();
  r.train_loss = j.at("train_loss").get<double>();
  r.train_accuracy = j.at("train_accuracy").get<double>();
  r.seconds = j.at("seconds").get<double>();
  if (!j.at("val_loss").is_null()) r.val_loss = j.at("val_loss").get<double>();
  if (!j.at("val_accuracy").is_null()) r.val_accuracy = j.at("val_accuracy").get<double>();
  return r;
}

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
  if (options.resume) {
    state = load_checkpoint(options.checkpoint_dir, model, *optimizer);
    for (const auto& j : state.history) result.history.push_back(epoch_record_from_json(j));
    ADVTK_CHECK(state.epochs_done <= options.epochs, "--resume: the checkpoint has ",
                state.epochs_done, " epochs done, more than --epochs ", options.epochs);
  }
  result.first_epoch = state.epochs_done + 1;

  const torch::Device device = model.device();
  for (int64_t epoch = state.epochs_done + 1; epoch <= options.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
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
        const torch::Tensor index = order.slice(0, start, end);
        const torch::Tensor x =
            model.from_unit_range(train_data.images.index_select(0, index)).to(device);
        const torch::Tensor y = train_data.labels.index_select(0, index).to(device);

        optimizer->zero_grad();
        const BatchLoss out = objective.compute(model, x, y);
        out.loss.backward();
        if (options.clip_grad_norm > 0) {
          torch::nn::utils::clip_grad_norm_(model.parameters(), options.clip_grad_norm);
        }
        optimizer->step();

        torch::NoGradGuard no_grad;
        loss_sum += out.loss.detach().to(torch::kDouble) * (end - start);
        correct += out.logits.detach().argmax(1).eq(y).sum();
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
    record.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.history.push_back(record);
    state.epochs_done = epoch;
    state.history.push_back(to_json(record));
    if (!options.checkpoint_dir.empty()) {
      save_checkpoint(options.checkpoint_dir, model, *optimizer, state);
    }
    if (callbacks.on_epoch) callbacks.on_epoch(record);
  }
  return result;
}

}  // namespace advtk
