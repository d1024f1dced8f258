// A training checkpoint: the model, the optimizer's state and the epochs done, in one folder.
// Written file by file atomically, state.json last, so a checkpoint is valid whenever state.json
// exists — a run killed mid-write resumes from the previous epoch.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/torch.h"
#include "models/model.h"

namespace advtk {

struct CheckpointState {
  int64_t epochs_done = 0;
  nlohmann::json history = nlohmann::json::array();  // one object per epoch
  nlohmann::json config;                             // what the run was started with
};

void save_checkpoint(const std::string& dir, const Model& model, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state);

bool checkpoint_exists(const std::string& dir);

// Copies the saved parameters and buffers into `model` in place (so the optimizer's references
// stay valid), loads the optimizer's state and returns the saved state.
CheckpointState load_checkpoint(const std::string& dir, Model& model,
                                torch::optim::Optimizer& optimizer);

}  // namespace advtk
