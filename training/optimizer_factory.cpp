#include "training/optimizer_factory.h"

#include "core/error.h"

namespace advtk {

std::vector<std::string> optimizer_names() {
  return {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"};
}

std::string optimizer_name(OptimizerKind kind) {
  return optimizer_names().at(static_cast<size_t>(kind));
}

OptimizerKind parse_optimizer(const std::string& name) {
  const auto names = optimizer_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<OptimizerKind>(i);
  throw Error(
      "--optimizer: expected one of sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, got '" +
      name + "'");
}

double default_learning_rate(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd:
    case OptimizerKind::Momentum:
    case OptimizerKind::Nesterov:
    case OptimizerKind::Adagrad:
      return 1e-2;
    case OptimizerKind::RmsProp:
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW:
      return 1e-3;
  }
  return 1e-3;
}

void check_optimizer_settings(const OptimizerSettings& s) {
  ADVTK_CHECK(s.lr > 0, "--lr: expected a positive learning rate, got ", s.lr);
  ADVTK_CHECK(s.weight_decay >= 0, "--weight-decay: expected >= 0, got ", s.weight_decay);
  ADVTK_CHECK(s.momentum >= 0 && s.momentum < 1, "--momentum: expected a value in [0, 1), got ",
              s.momentum);
  ADVTK_CHECK(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1,
              "--betas: expected two values in [0, 1), got ", s.beta1, ",", s.beta2);
  ADVTK_CHECK(s.eps > 0, "--eps-optimizer: expected a positive value, got ", s.eps);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const OptimizerSettings& s) {
  check_optimizer_settings(s);
  ADVTK_CHECK(!params.empty(), "the model has no parameters to train");
  using namespace torch::optim;
  switch (s.kind) {
    case OptimizerKind::Sgd:
      return std::make_unique<SGD>(params, SGDOptions(s.lr).weight_decay(s.weight_decay));
    case OptimizerKind::Momentum:
      ADVTK_CHECK(s.momentum > 0, "--momentum: momentum SGD needs a positive momentum");
      return std::make_unique<SGD>(
          params, SGDOptions(s.lr).momentum(s.momentum).weight_decay(s.weight_decay));
    case OptimizerKind::Nesterov:
      ADVTK_CHECK(s.momentum > 0, "--momentum: Nesterov SGD needs a positive momentum");
      return std::make_unique<SGD>(
          params,
          SGDOptions(s.lr).momentum(s.momentum).nesterov(true).weight_decay(s.weight_decay));
    case OptimizerKind::Adagrad:
      return std::make_unique<Adagrad>(
          params, AdagradOptions(s.lr).weight_decay(s.weight_decay).eps(s.eps));
    case OptimizerKind::RmsProp:
      return std::make_unique<RMSprop>(params, RMSpropOptions(s.lr)
                                                   .weight_decay(s.weight_decay)
                                                   .eps(s.eps)
                                                   .momentum(s.rmsprop_momentum ? s.momentum : 0));
    case OptimizerKind::Adam:
      return std::make_unique<Adam>(
          params,
          AdamOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(s.weight_decay));
    case OptimizerKind::AdamW:
      return std::make_unique<AdamW>(
          params,
          AdamWOptions(s.lr).betas({s.beta1, s.beta2}).eps(s.eps).weight_decay(s.weight_decay));
  }
  TORCH_INTERNAL_ASSERT(false, "unknown optimizer");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace advtk
