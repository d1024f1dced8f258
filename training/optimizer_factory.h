// The optimizers the training loop offers, built on torch::optim. Each keeps its update rule in
// LibTorch; this file only maps advtk's settings onto them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

enum class OptimizerKind { Sgd, Momentum, Nesterov, Adagrad, RmsProp, Adam, AdamW };

struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::Adam;
  double lr = 1e-3;
  double momentum = 0.9;      // momentum and nesterov; rmsprop uses it only when set explicitly
  double weight_decay = 0.0;  // L2 penalty; decoupled (Loshchilov & Hutter 2019) for adamw
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  bool rmsprop_momentum = false;  // rmsprop with momentum (off by default, as in PyTorch)
};

std::vector<std::string> optimizer_names();
OptimizerKind parse_optimizer(const std::string& name);  // throws advtk::Error
std::string optimizer_name(OptimizerKind kind);
double default_learning_rate(OptimizerKind kind);

// Validates the settings (positive lr, betas in [0,1), ...) and builds the optimizer.
// Throws advtk::Error naming the option (--lr, --momentum, ...) when a setting is impossible.
void check_optimizer_settings(const OptimizerSettings& settings);

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimizerSettings& settings);

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace advtk
