// A training checkpoint: the model, the optimizer's state and the epochs done, in one folder, and
// best.pt, the model of the best epoch so far. Written file by file atomically, state.json last,
// so a checkpoint is valid whenever state.json exists — a run killed mid-write resumes from the
// previous epoch (which it then repeats exactly).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/torch.h"
#include "models/model.h"
#include "training/model_state.h"

namespace advtk {

struct CheckpointState {
  int64_t epochs_done = 0;
  nlohmann::json history = nlohmann::json::array();  // one object per epoch
  nlohmann::json config;                             // what the run was started with
  int64_t best_epoch = 0;                            // 0: none yet
  std::string stop_reason;  // non-empty: the run ended early (e.g. catastrophic overfitting)
};

enum class CheckpointWrite {
  StateOnly,     // the epoch is not kept (the run stopped): model.pt stays at the last good epoch
  Model,         // model, optimizer and state
  ModelAndBest,  // the same, and the model is also the new best.pt
};

void save_checkpoint(const std::string& dir, const Model& model, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state, CheckpointWrite what = CheckpointWrite::Model);

bool checkpoint_exists(const std::string& dir);

// Copies the saved parameters and buffers into `model` in place (so the optimizer's references
// stay valid), loads the optimizer's state and returns the saved state.
CheckpointState load_checkpoint(const std::string& dir, Model& model,
                                torch::optim::Optimizer& optimizer);

// The parameters and buffers of best.pt.
ModelState load_best_state(const std::string& dir, torch::Device device);

}  // namespace advtk
