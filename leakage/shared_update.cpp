#include "leakage/shared_update.h"

#include <cmath>
#include <utility>

#include "core/error.h"

namespace advtk {
namespace {

// The module's parameter slots (object, attribute name), in the order of module.parameters(),
// so that the forward can run with other tensors in their place.
class ParameterSlots {
 public:
  explicit ParameterSlots(torch::jit::Module& module) {
    for (const auto& named : module.named_modules()) {
      torch::jit::Module sub = named.value;
      for (const auto& p : sub.named_parameters(/*recurse=*/false)) {
        if (!p.value.is_floating_point()) continue;
        slots_.emplace_back(sub, p.name);
        original_.push_back(p.value);
      }
    }
  }
  ~ParameterSlots() { set(original_); }
  ParameterSlots(const ParameterSlots&) = delete;
  ParameterSlots& operator=(const ParameterSlots&) = delete;

  const std::vector<torch::Tensor>& original() const { return original_; }
  void set(const std::vector<torch::Tensor>& values) {
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i].first.setattr(slots_[i].second, values[i]);
  }

 private:
  std::vector<std::pair<torch::jit::Module, std::string>> slots_;
  std::vector<torch::Tensor> original_;
};

std::vector<torch::Tensor> gradient_of(const torch::Tensor& loss,
                                       const std::vector<torch::Tensor>& params,
                                       bool create_graph) {
  std::vector<torch::Tensor> g = torch::autograd::grad({loss}, params, /*grad_outputs=*/{},
                                                       /*retain_graph=*/create_graph, create_graph,
                                                       /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i)
    if (!g[i].defined()) g[i] = torch::zeros_like(params[i]);
  return g;
}

}  // namespace

torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target_probs) {
  return -(target_probs * torch::log_softmax(logits, 1)).sum(1).mean();
}

ParameterGradientScope::ParameterGradientScope(Model& model)
    : model_(model), was_training_(model.module().is_training()) {
  model_.module().train(false);
  for (torch::Tensor p : model_.module().parameters()) {
    was_trainable_.push_back(p.requires_grad());
    if (p.is_floating_point()) p.requires_grad_(true);
  }
}

ParameterGradientScope::~ParameterGradientScope() {
  model_.module().train(was_training_);
  size_t i = 0;
  for (torch::Tensor p : model_.module().parameters()) {
    if (p.is_floating_point()) p.requires_grad_(was_trainable_[i]);
    ++i;
  }
}

std::vector<torch::Tensor> shared_parameters(const Model& model) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& p : model.module().parameters())
    if (p.is_floating_point()) out.push_back(p);
  return out;
}

std::vector<torch::Tensor> client_update(Model& model, const torch::Tensor& x,
                                         const torch::Tensor& target_probs,
                                         const ClientProtocol& protocol, bool create_graph) {
  ADVTK_CHECK(protocol.local_steps >= 0, "--local-steps: expected at least 0");
  if (protocol.local_steps == 0) {
    const torch::Tensor loss = soft_cross_entropy(model.logits(x), target_probs);
    return gradient_of(loss, shared_parameters(model), create_graph);
  }
  ParameterSlots slots(model.module());
  std::vector<torch::Tensor> theta = slots.original();
  for (int64_t step = 0; step < protocol.local_steps; ++step) {
    slots.set(theta);
    const torch::Tensor loss = soft_cross_entropy(model.logits(x), target_probs);
    // The first step differentiates the leaf parameters; later ones the updated tensors, which
    // carry a graph only when the caller asked for one.
    const std::vector<torch::Tensor> g = gradient_of(loss, theta, create_graph);
    for (size_t i = 0; i < theta.size(); ++i) {
      theta[i] = theta[i] - protocol.local_lr * g[i];
      if (!create_graph) theta[i] = theta[i].detach().requires_grad_(true);
    }
  }
  std::vector<torch::Tensor> delta;
  for (size_t i = 0; i < theta.size(); ++i) {
    torch::Tensor d = theta[i] - slots.original()[i];
    delta.push_back(create_graph ? d : d.detach());
  }
  return delta;
}

torch::Tensor flatten_all(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : tensors) flat.push_back(t.reshape(-1).to(torch::kDouble));
  return torch::cat(flat);
}

double squared_norm(const std::vector<torch::Tensor>& tensors) {
  double s = 0;
  for (const torch::Tensor& t : tensors) s += t.to(torch::kDouble).pow(2).sum().item<double>();
  return s;
}

double cosine(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ADVTK_CHECK(a.size() == b.size(), "cosine: lists of different lengths");
  double dot = 0;
  for (size_t i = 0; i < a.size(); ++i)
    dot += (a[i].to(torch::kDouble) * b[i].to(torch::kDouble)).sum().item<double>();
  const double na = squared_norm(a), nb = squared_norm(b);
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

}  // namespace advtk
