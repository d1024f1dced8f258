#include "diagnostics/sharpness.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/seeding.h"

namespace advtk {
namespace {

// Lets autograd reach the weights for its lifetime; the model keeps eval mode.
class WeightGradients {
 public:
  explicit WeightGradients(std::vector<torch::Tensor> params) : params_(std::move(params)) {
    for (auto& p : params_) {
      was_.push_back(p.requires_grad());
      p.requires_grad_(true);
    }
  }
  ~WeightGradients() {
    for (size_t i = 0; i < params_.size(); ++i) {
      params_[i].mutable_grad() = torch::Tensor();
      params_[i].requires_grad_(was_[i]);
    }
  }
  WeightGradients(const WeightGradients&) = delete;
  WeightGradients& operator=(const WeightGradients&) = delete;

 private:
  std::vector<torch::Tensor> params_;
  std::vector<bool> was_;
};

struct Sample {
  torch::Tensor x, y;  // on the model's device, x in its input range
};

std::vector<Sample> batches_of(const Model& model, const Dataset& data, int64_t examples,
                               int64_t batch_size) {
  const int64_t n = std::min(examples, data.size());
  ADVTK_CHECK(n > 0, "sharpness: no examples");
  std::vector<Sample> out;
  for (int64_t s = 0; s < n; s += batch_size) {
    const int64_t m = std::min(batch_size, n - s);
    out.push_back({model.from_unit_range(data.images.narrow(0, s, m)).to(model.device()),
                   data.labels.narrow(0, s, m).to(model.device())});
  }
  return out;
}

int64_t sample_size(const std::vector<Sample>& sample) {
  int64_t n = 0;
  for (const auto& b : sample) n += b.y.size(0);
  return n;
}

double loss_on(const Model& model, const std::vector<Sample>& sample) {
  torch::NoGradGuard no_grad;
  double total = 0.0;
  for (const auto& b : sample) {
    total += torch::nn::functional::cross_entropy(
                 model.logits(b.x), b.y,
                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                 .item<double>();
  }
  return total / static_cast<double>(sample_size(sample));
}

double dot(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] * b[i]).sum().item<double>();
  return s;
}

// H·v for the mean loss over the sample, by double backward, one batch at a time.
std::vector<torch::Tensor> hessian_vector(const Model& model, const std::vector<Sample>& sample,
                                          const std::vector<torch::Tensor>& params,
                                          const std::vector<torch::Tensor>& v) {
  const double n = static_cast<double>(sample_size(sample));
  std::vector<torch::Tensor> hv;
  for (const auto& p : params) hv.push_back(torch::zeros_like(p));
  for (const auto& b : sample) {
    const torch::Tensor loss =
        torch::nn::functional::cross_entropy(
            model.logits(b.x), b.y,
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
        n;
    if (!loss.requires_grad()) continue;  // no weight reaches this batch's loss
    const auto grads = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true,
                                             /*create_graph=*/true, /*allow_unused=*/true);
    torch::Tensor gv = torch::zeros({}, loss.options());
    for (size_t i = 0; i < params.size(); ++i)
      if (grads[i].defined() && grads[i].requires_grad()) gv = gv + (grads[i] * v[i]).sum();
    if (!gv.requires_grad()) continue;  // the loss is linear in every weight on this batch
    const auto parts = torch::autograd::grad({gv}, params, {}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t i = 0; i < params.size(); ++i)
      if (parts[i].defined()) hv[i] += parts[i].detach();
  }
  return hv;
}

}  // namespace

double mean_loss(const Model& model, const Dataset& data, int64_t examples, int64_t batch_size) {
  return loss_on(model, batches_of(model, data, examples, batch_size));
}

SharpnessReport measure_sharpness(const Model& model, const Dataset& data,
                                  const SharpnessOptions& options) {
  ADVTK_CHECK(options.power_iterations > 0, "sharpness: power iterations must be > 0");
  ADVTK_CHECK(options.perturbation_pairs > 0, "sharpness: perturbation pairs must be > 0");
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Sample> sample = batches_of(model, data, options.examples, options.batch_size);
  std::vector<torch::Tensor> params = model.parameters();
  ADVTK_CHECK(!params.empty(), "sharpness: the model has no parameters");

  SharpnessReport r;
  r.examples = sample_size(sample);
  for (const auto& p : params) r.parameters += p.numel();
  r.loss = loss_on(model, sample);

  {
    WeightGradients scope(params);
    torch::Generator gen = make_generator(options.seed, 0x5a4e);
    std::vector<torch::Tensor> v;
    for (const auto& p : params)
      v.push_back(torch::randn(p.sizes(), gen, torch::kFloat).to(p.device(), p.scalar_type()));
    double norm = std::sqrt(dot(v, v));
    for (auto& t : v) t /= norm;
    double previous = 0.0;
    for (int64_t it = 0; it < options.power_iterations; ++it) {
      const std::vector<torch::Tensor> hv = hessian_vector(model, sample, params, v);
      const double lambda = dot(v, hv);  // Rayleigh quotient of the unit vector v
      r.top_eigenvalue = lambda;
      r.iterations = it + 1;
      norm = std::sqrt(dot(hv, hv));
      if (norm == 0.0) {  // H v = 0: the loss is flat along v (and every later direction)
        r.converged = true;
        break;
      }
      if (it > 0 && std::abs(lambda - previous) <= options.tolerance * std::abs(lambda)) {
        r.converged = true;
        break;
      }
      previous = lambda;
      for (size_t i = 0; i < v.size(); ++i) v[i] = hv[i] / norm;
    }
  }

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> original;
  for (const auto& p : params) original.push_back(p.detach().clone());
  const auto restore = [&] {
    for (size_t i = 0; i < params.size(); ++i) params[i].detach().copy_(original[i]);
  };
  try {
    for (size_t k = 0; k < options.rhos.size(); ++k) {
      const double rho = options.rhos[k];
      std::vector<double> increases;
      for (int64_t pair = 0; pair < options.perturbation_pairs; ++pair) {
        torch::Generator gen = make_generator(
            options.seed, (static_cast<uint64_t>(k + 1) << 32) | static_cast<uint64_t>(pair));
        std::vector<torch::Tensor> delta;
        for (const auto& w : original) {
          const torch::Tensor u = torch::randn(w.sizes(), gen, torch::kDouble);
          const double un = u.norm().item<double>();
          delta.push_back(
              (un > 0 ? u * (rho * w.to(torch::kDouble).norm().item<double>() / un) : u * 0)
                  .to(w.device(), w.scalar_type()));
        }
        double sum = 0.0;
        for (double sign : {1.0, -1.0}) {
          for (size_t i = 0; i < params.size(); ++i)
            params[i].detach().copy_(original[i] + sign * delta[i]);
          sum += loss_on(model, sample);
        }
        restore();
        increases.push_back(sum / 2 - r.loss);
      }
      PerturbationFigure f;
      f.rho = rho;
      const torch::Tensor inc = torch::tensor(increases, torch::kDouble);
      f.mean_increase = inc.mean().item<double>();
      f.std_increase = inc.numel() > 1 ? inc.std().item<double>() : 0.0;
      f.max_increase = inc.max().item<double>();
      r.perturbation.push_back(f);
    }
  } catch (...) {
    restore();
    throw;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace advtk
