#include "leakage/gradient_matching.h"

#include "core/error.h"

namespace advtk {

torch::Tensor match_distance(const std::vector<torch::Tensor>& dummy,
                             const std::vector<torch::Tensor>& target, MatchDistance distance) {
  ADVTK_CHECK(dummy.size() == target.size(), "gradient matching: updates of different lengths");
  if (distance == MatchDistance::SquaredL2) {
    torch::Tensor sum = torch::zeros({}, dummy.front().options());
    for (size_t i = 0; i < dummy.size(); ++i) sum = sum + (dummy[i] - target[i]).pow(2).sum();
    return sum;
  }
  torch::Tensor dot = torch::zeros({}, dummy.front().options());
  torch::Tensor nd = dot, nt = dot;
  for (size_t i = 0; i < dummy.size(); ++i) {
    dot = dot + (dummy[i] * target[i]).sum();
    nd = nd + dummy[i].pow(2).sum();
    nt = nt + target[i].pow(2).sum();
  }
  return 1 - dot / (nd.sqrt() * nt.sqrt() + 1e-12);
}

torch::Tensor total_variation(const torch::Tensor& x) {
  using torch::indexing::Slice;
  const torch::Tensor dx = (x.index({Slice(), Slice(), Slice(), Slice(0, -1)}) -
                            x.index({Slice(), Slice(), Slice(), Slice(1, torch::indexing::None)}))
                               .abs()
                               .mean();
  const torch::Tensor dy = (x.index({Slice(), Slice(), Slice(0, -1)}) -
                            x.index({Slice(), Slice(), Slice(1, torch::indexing::None)}))
                               .abs()
                               .mean();
  return dx + dy;
}

torch::Tensor matching_objective(const MatchingProblem& p, const torch::Tensor& x,
                                 const torch::Tensor& probs, MatchDistance distance) {
  const std::vector<torch::Tensor> update = client_update(*p.model, x, probs, p.protocol, true);
  return match_distance(update, p.shared, distance);
}

torch::Tensor random_dummy(const MatchingProblem& p, torch::Generator& gen) {
  const ModelOptions& o = p.model->options();
  const torch::Tensor z =
      torch::randn({p.batch_size, p.image_shape[0], p.image_shape[1], p.image_shape[2]}, gen);
  return (z * (o.input_hi - o.input_lo) + o.input_lo).to(p.model->device());
}

std::optional<std::string> second_order_failure(Model& model,
                                                const std::vector<int64_t>& image_shape,
                                                int64_t num_classes,
                                                const ClientProtocol& protocol) {
  ParameterGradientScope scope(model);
  const ModelOptions& o = model.options();
  const torch::Tensor x = (torch::full({1, image_shape[0], image_shape[1], image_shape[2]}, 0.5) *
                               (o.input_hi - o.input_lo) +
                           o.input_lo)
                              .to(model.device())
                              .requires_grad_(true);
  const torch::Tensor probs =
      torch::full({1, num_classes}, 1.0 / static_cast<double>(num_classes)).to(model.device());
  try {
    const std::vector<torch::Tensor> update = client_update(model, x, probs, protocol, true);
    std::vector<torch::Tensor> target;
    for (const torch::Tensor& u : update) target.push_back(torch::zeros_like(u));
    const torch::Tensor loss = match_distance(update, target, MatchDistance::SquaredL2);
    const auto g = torch::autograd::grad({loss}, {x}, {}, false, false, /*allow_unused=*/true);
    if (!g[0].defined()) return std::string("the parameter gradient does not depend on the input");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    return short_message(e);
  }
  return std::nullopt;
}

}  // namespace advtk
