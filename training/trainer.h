// The training loop, written once: seeded shuffling, mini-batches, an objective, an optimizer, a
// learning-rate schedule, gradient clipping, validation and a checkpoint every epoch, resume,
// and which epoch's model to keep. Adversarial training (defenses/) reuses it with its own
// TrainingObjective and an epoch check that measures robustness.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "distributed/process_group.h"
#include "models/model.h"
#include "training/lr_schedule.h"
#include "training/objective.h"
#include "training/optimizer_factory.h"

namespace advtk {

struct EpochRecord;

// Which epoch's model the run ends with. Best: the highest `TrainOptions::rank_metric` (e.g.
// validation robust accuracy; ties: clean validation accuracy, then the earlier epoch); without
// that figure the highest clean validation accuracy; without validation the last epoch.
enum class KeepPolicy { Best, Last };

// After each epoch's clean validation: adds figures to the record's metrics (robust accuracy)
// and may set its stop_reason to end the run; the model is in eval mode and must be left
// unchanged.
using EpochCheck = std::function<void(const Model& model, const std::vector<EpochRecord>& history,
                                      EpochRecord& record)>;

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  int64_t eval_batch_size = 1000;
  OptimizerSettings optimizer;
  ScheduleSettings schedule;
  double clip_grad_norm = 0.0;  // 0: no clipping
  uint64_t seed = 0;
  std::string checkpoint_dir;  // empty: no checkpoints
  bool resume = false;         // continue from checkpoint_dir
  nlohmann::json config;       // recorded in checkpoints, for the user
  KeepPolicy keep = KeepPolicy::Last;
  std::string rank_metric;  // the metric KeepPolicy::Best ranks by first (empty: none)
  EpochCheck epoch_check;   // may be empty
  // Data-parallel over several processes (null: this one alone), as PyTorch's DDP: each rank
  // computes the loss of its contiguous part of every batch, the gradients are summed over the
  // ranks in one bucket (each part's mean weighted by its share), and every rank takes the same
  // step. Batch norm keeps each rank's own batch statistics (DDP without SyncBatchNorm). Only
  // rank 0 writes checkpoints.
  const ProcessGroup* group = nullptr;
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double lr = 0.0;    // at the end of the epoch
  double train_loss = 0.0, train_accuracy = 0.0;
  std::optional<double> val_loss, val_accuracy;
  // What epoch checks add, by name (adversarial training: its ε and robust accuracies). Written
  // into the record's JSON beside the fields above.
  std::map<std::string, double> metrics;
  double seconds = 0.0;
  // Non-empty: the run stops after this epoch and this epoch's model is not kept.
  std::string stop_reason;

  std::optional<double> metric(const std::string& name) const {
    const auto it = metrics.find(name);
    return it == metrics.end() ? std::nullopt : std::optional<double>(it->second);
  }
};

struct TrainProgress {
  int64_t epoch = 0, epochs = 0;
  int64_t examples_done = 0, examples_total = 0;
  double loss = 0.0, accuracy = 0.0, lr = 0.0;
};

struct TrainCallbacks {
  std::function<void(const TrainProgress&)> on_batch;  // every few batches and at epoch end
  std::function<void(const EpochRecord&)> on_epoch;
};

struct TrainResult {
  std::vector<EpochRecord> history;  // all epochs, including those before a resume
  int64_t first_epoch = 1;           // where this call started (after a resume, > 1)
  int64_t kept_epoch = 0;            // whose model `model` holds at the end
  int64_t best_epoch = 0;            // by KeepPolicy::Best's rule; 0 when no epoch qualified
  std::string stop_reason;           // why the run ended early, if it did
};

nlohmann::json to_json(const EpochRecord& record);
EpochRecord epoch_record_from_json(const nlohmann::json& j);

// Trains `model` in place and leaves it holding the kept epoch's parameters. `validation` may be
// null. Throws advtk::Error on bad options, on a checkpoint that does not fit, and when the loss
// becomes NaN/Inf (divergence).
TrainResult train(Model& model, const Dataset& train_data, const Dataset* validation,
                  TrainingObjective& objective, const TrainOptions& options,
                  const TrainCallbacks& callbacks = {});

}  // namespace advtk
