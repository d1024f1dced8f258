#include "leakage/gradient_defense.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace advtk {
namespace {

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::vector<torch::Tensor> detached(const std::vector<torch::Tensor>& v) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& t : v) out.push_back(t.detach());
  return out;
}

// DP-SGD's privatised gradient of one step at the module's current parameters `theta`.
std::vector<torch::Tensor> private_gradient(Model& model, const torch::Tensor& x,
                                            const torch::Tensor& probs, const GradientDefense& d,
                                            torch::Generator& gen) {
  const int64_t b = x.size(0);
  std::vector<torch::Tensor> sum;
  for (int64_t i = 0; i < b; ++i) {
    std::vector<torch::Tensor> g =
        client_update(model, x.narrow(0, i, 1), probs.narrow(0, i, 1), {}, false);
    const double norm = std::sqrt(squared_norm(g));
    const double scale = norm > d.clip ? d.clip / norm : 1.0;
    for (size_t k = 0; k < g.size(); ++k) {
      if (sum.size() <= k) sum.push_back(torch::zeros_like(g[k]));
      sum[k] += g[k] * scale;
    }
  }
  for (torch::Tensor& s : sum) {
    const torch::Tensor noise =
        torch::randn(s.sizes(), gen, torch::TensorOptions().dtype(s.scalar_type()));
    s = (s + noise.to(s.device()) * (d.noise_multiplier * d.clip)) / static_cast<double>(b);
  }
  return sum;
}

// DP-SGD through the local steps: each step takes the privatised gradient.
std::vector<torch::Tensor> private_update(Model& model, const torch::Tensor& x,
                                          const torch::Tensor& probs, const ClientProtocol& p,
                                          const GradientDefense& d, torch::Generator& gen) {
  if (p.local_steps == 0) return private_gradient(model, x, probs, d, gen);
  torch::NoGradGuard no_grad_outside;
  std::vector<torch::Tensor> original = shared_parameters(model);
  std::vector<torch::Tensor> saved;
  for (const torch::Tensor& t : original) saved.push_back(t.detach().clone());
  for (int64_t step = 0; step < p.local_steps; ++step) {
    std::vector<torch::Tensor> g;
    {
      torch::AutoGradMode enable(true);
      g = private_gradient(model, x, probs, d, gen);
    }
    for (size_t k = 0; k < g.size(); ++k) original[k].sub_(g[k] * p.local_lr);
  }
  std::vector<torch::Tensor> delta;
  for (size_t k = 0; k < original.size(); ++k) {
    delta.push_back(original[k].detach() - saved[k]);
    original[k].copy_(saved[k]);
  }
  return delta;
}

}  // namespace

std::string GradientDefense::name() const {
  switch (kind) {
    case DefenseKind::None:
      return "none";
    case DefenseKind::Noise:
      return "noise=" + number(sigma);
    case DefenseKind::Prune:
      return "prune=" + number(prune_fraction);
    case DefenseKind::DpSgd:
      return "dpsgd=" + number(clip) + "," + number(noise_multiplier);
  }
  return "?";
}

void validate_defense(const GradientDefense& d) {
  switch (d.kind) {
    case DefenseKind::None:
      return;
    case DefenseKind::Noise:
      ADVTK_CHECK(std::isfinite(d.sigma) && d.sigma >= 0, "--defense noise=S: expected S >= 0, ",
                  "got ", d.sigma);
      return;
    case DefenseKind::Prune:
      ADVTK_CHECK(d.prune_fraction >= 0 && d.prune_fraction < 1,
                  "--defense prune=P: expected 0 <= P < 1, got ", d.prune_fraction);
      return;
    case DefenseKind::DpSgd:
      ADVTK_CHECK(std::isfinite(d.clip) && d.clip > 0, "--defense dpsgd=C,Z: expected C > 0, got ",
                  d.clip);
      ADVTK_CHECK(std::isfinite(d.noise_multiplier) && d.noise_multiplier >= 0,
                  "--defense dpsgd=C,Z: expected Z >= 0, got ", d.noise_multiplier);
      return;
  }
}

ClientShare share_update(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                         int64_t num_classes, const ClientProtocol& protocol,
                         const GradientDefense& defense, torch::Generator& gen) {
  validate_defense(defense);
  const torch::Tensor probs = torch::one_hot(y.to(x.device()), num_classes).to(x.scalar_type());
  ClientShare out;
  out.clean = detached(client_update(model, x, probs, protocol, false));
  switch (defense.kind) {
    case DefenseKind::None:
      out.shared = out.clean;
      break;
    case DefenseKind::Noise:
      for (const torch::Tensor& t : out.clean) {
        const torch::Tensor noise =
            torch::randn(t.sizes(), gen, torch::TensorOptions().dtype(t.scalar_type()));
        out.shared.push_back(t + noise.to(t.device()) * defense.sigma);
      }
      break;
    case DefenseKind::Prune:
      for (const torch::Tensor& t : out.clean) {
        const int64_t n = t.numel();
        const auto zeroed = static_cast<int64_t>(std::floor(defense.prune_fraction * n));
        torch::Tensor flat = t.reshape(-1).clone();
        if (zeroed > 0) {
          const torch::Tensor order = std::get<1>(flat.abs().sort(/*stable=*/true, 0, false));
          flat.index_fill_(0, order.narrow(0, 0, zeroed), 0);
        }
        out.shared.push_back(flat.view(t.sizes()));
      }
      break;
    case DefenseKind::DpSgd:
      out.shared = detached(private_update(model, x, probs, protocol, defense, gen));
      break;
  }
  out.utility_cosine = cosine(out.shared, out.clean);
  return out;
}

}  // namespace advtk
