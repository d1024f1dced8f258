#include "attacks/threat_model.h"

#include <cmath>

#include "core/error.h"

namespace advtk {
namespace {

torch::Tensor flat(const torch::Tensor& t) { return t.reshape({t.size(0), -1}); }

// Reshapes a per-example [N] tensor so it broadcasts against `like` [N, ...].
torch::Tensor per_example(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return v.reshape(shape);
}

}  // namespace

std::string norm_name(Norm norm) {
  switch (norm) {
    case Norm::Linf:
      return "linf";
    case Norm::L2:
      return "l2";
    case Norm::L1:
      return "l1";
  }
  return "?";
}

Norm parse_norm(const std::string& name) {
  if (name == "linf" || name == "inf") return Norm::Linf;
  if (name == "l2") return Norm::L2;
  if (name == "l1") return Norm::L1;
  throw Error("--norm: expected linf, l2 or l1, got '" + name + "'");
}

void check_threat(const ThreatModel& threat) {
  ADVTK_CHECK(threat.eps >= 0 && std::isfinite(threat.eps), "--eps: expected a budget >= 0, got ",
              threat.eps);
  ADVTK_CHECK(threat.hi > threat.lo, "the valid range must have lo < hi");
}

torch::Tensor distance(Norm norm, const torch::Tensor& a, const torch::Tensor& b) {
  return row_norm(norm, flat(a - b));
}

torch::Tensor row_norm(Norm norm, const torch::Tensor& d) {
  switch (norm) {
    case Norm::Linf:
      return d.abs().amax(1);
    case Norm::L2:
      return d.norm(2, 1);
    case Norm::L1:
      return d.abs().sum(1);
  }
  TORCH_INTERNAL_ASSERT(false);
}

namespace {

// `eps`: one radius (double) or one per row ([N, 1] double tensor).
template <typename Eps>
torch::Tensor project_l1_box_impl(const torch::Tensor& z, const Eps& eps,
                                  const torch::Tensor& lower, const torch::Tensor& upper) {
  // Minimise ||d - z||² subject to ||d||_1 <= eps and the box. The solution is
  // d_i = sign(z_i) · clip(|z_i| - λ, 0, cap_i) with cap_i the box bound on z_i's side, and λ >= 0
  // the smallest value with f(λ) = Σ clip(|z_i| - λ, 0, cap_i) <= eps. f is piecewise linear and
  // non-increasing with breakpoints at a_i = |z_i| and c_i = a_i - cap_i; we evaluate it at
  // every breakpoint with sorted prefix sums and interpolate on the segment that crosses eps.
  const auto opts = z.options().dtype(torch::kDouble);
  const torch::Tensor zd = z.to(torch::kDouble);
  const torch::Tensor sign = zd.sign();
  const torch::Tensor a = zd.abs();
  const torch::Tensor cap =
      torch::where(zd >= 0, upper.to(torch::kDouble), -lower.to(torch::kDouble)).clamp_min(0);
  const torch::Tensor clipped = torch::minimum(a, cap);
  const torch::Tensor inside = clipped.sum(1, /*keepdim=*/true) <= eps;  // [N, 1]

  const int64_t n = a.size(1);
  const torch::Tensor c = a - cap;
  const torch::Tensor a_sorted = std::get<0>(a.sort(1));
  const torch::Tensor c_sorted = std::get<0>(c.sort(1));
  const torch::Tensor zeros = torch::zeros({a.size(0), 1}, opts);
  const torch::Tensor a_prefix = torch::cat({zeros, a_sorted.cumsum(1)}, 1);
  const torch::Tensor c_prefix = torch::cat({zeros, c_sorted.cumsum(1)}, 1);
  // f at the values `lambda` [N, M]: Σ_{a_i > λ}(a_i - λ) - Σ_{c_i > λ}(c_i - λ).
  const auto f = [&](const torch::Tensor& lambda) {
    const torch::Tensor ia = torch::searchsorted(a_sorted, lambda, false, /*right=*/true);
    const torch::Tensor ic = torch::searchsorted(c_sorted, lambda, false, /*right=*/true);
    const torch::Tensor a_above = a_prefix.select(1, n).unsqueeze(1) - a_prefix.gather(1, ia);
    const torch::Tensor c_above = c_prefix.select(1, n).unsqueeze(1) - c_prefix.gather(1, ic);
    return (a_above - lambda * (n - ia)) - (c_above - lambda * (n - ic));
  };
  const torch::Tensor breakpoints =
      std::get<0>(torch::cat({zeros, a_sorted, c_sorted.clamp_min(0)}, 1).sort(1));
  const torch::Tensor values = f(breakpoints);  // non-increasing along each row
  // First breakpoint where f <= eps (exists: f(max a) = 0); the segment before it crosses eps.
  const torch::Tensor k = (values > eps).sum(1, true).clamp_max(breakpoints.size(1) - 1);
  const torch::Tensor k_lo = (k - 1).clamp_min(0);
  const torch::Tensor t_hi = breakpoints.gather(1, k), t_lo = breakpoints.gather(1, k_lo);
  const torch::Tensor f_hi = values.gather(1, k), f_lo = values.gather(1, k_lo);
  const torch::Tensor span = f_lo - f_hi;
  torch::Tensor lambda =
      torch::where(span > 0, t_lo + (f_lo - eps) / span.clamp_min(1e-300) * (t_hi - t_lo), t_hi);
  lambda = torch::where(inside, torch::zeros_like(lambda), lambda);
  const torch::Tensor d = sign * torch::minimum((a - lambda).clamp_min(0), cap);
  return d.to(z.scalar_type());
}

}  // namespace

torch::Tensor project_l1_box(const torch::Tensor& z, double eps, const torch::Tensor& lower,
                             const torch::Tensor& upper) {
  return project_l1_box_impl(z, eps, lower, upper);
}

torch::Tensor project_l1_box(const torch::Tensor& z, const torch::Tensor& eps,
                             const torch::Tensor& lower, const torch::Tensor& upper) {
  return project_l1_box_impl(z, eps.to(z.device(), torch::kDouble).reshape({-1, 1}), lower, upper);
}

torch::Tensor project(const ThreatModel& t, const torch::Tensor& x_adv, const torch::Tensor& x) {
  const torch::Tensor delta = x_adv - x;
  torch::Tensor projected;
  switch (t.norm) {
    case Norm::Linf:
      projected = x + delta.clamp(-t.eps, t.eps);
      break;
    case Norm::L2: {
      const torch::Tensor norms = flat(delta).norm(2, 1);
      const torch::Tensor scale = (t.eps / norms.clamp_min(1e-12)).clamp_max(1.0);
      projected = x + delta * per_example(scale, delta);
      break;
    }
    case Norm::L1: {
      const torch::Tensor d = project_l1_box(flat(delta), t.eps, flat(t.lo - x), flat(t.hi - x));
      return (x + d.view_as(x)).clamp(t.lo, t.hi);  // clamp only removes rounding
    }
  }
  return projected.clamp(t.lo, t.hi);
}

torch::Tensor random_start(const ThreatModel& t, const torch::Tensor& x,
                           std::vector<torch::Generator>& generators) {
  ADVTK_CHECK(static_cast<int64_t>(generators.size()) == x.size(0),
              "random_start: one generator per example expected");
  const int64_t d = x[0].numel();
  std::vector<torch::Tensor> rows;
  rows.reserve(generators.size());
  for (auto& gen : generators) {
    torch::Tensor r;
    switch (t.norm) {
      case Norm::Linf:
        r = torch::rand({d}, gen).mul_(2).sub_(1).mul_(t.eps);
        break;
      case Norm::L2: {
        // Uniform in the ball: a Gaussian direction and radius eps · U^(1/d).
        const torch::Tensor g = torch::randn({d}, gen);
        const double u = torch::rand({1}, gen).item<double>();
        r = g / g.norm().clamp_min(1e-12) * (t.eps * std::pow(u, 1.0 / d));
        break;
      }
      case Norm::L1: {
        // Uniform in the L1 ball: d+1 exponentials normalised give a uniform point of the
        // simplex's interior; random signs spread it over the orthants.
        const torch::Tensor e = -torch::rand({d + 1}, gen).clamp_min(1e-12).log();
        const torch::Tensor signs = torch::randint(0, 2, {d}, gen, torch::kFloat).mul_(2).sub_(1);
        r = e.slice(0, 0, d) / e.sum() * signs * t.eps;
        break;
      }
    }
    rows.push_back(r);
  }
  const torch::Tensor noise = torch::stack(rows).view_as(x).to(x.device(), x.scalar_type());
  return (x + noise).clamp(t.lo, t.hi);
}

double box_diameter(Norm norm, double range, int64_t features) {
  const double d = static_cast<double>(features);
  return norm == Norm::Linf ? range : norm == Norm::L2 ? range * std::sqrt(d) : range * d;
}

void check_budget_within_box(double eps, Norm norm, double range, int64_t features) {
  const double diameter = box_diameter(norm, range, features);
  ADVTK_CHECK(eps <= diameter * (1 + 1e-9), "--eps ", eps, ": more than the largest ",
              norm_name(norm), " distance between two inputs in the model's range (", diameter,
              "); every input is within it");
}

torch::Tensor steepest_step(Norm norm, const torch::Tensor& grad, const torch::Tensor& step_size,
                            double l1_sparsity) {
  const torch::Tensor alpha = step_size.dim() == 0 ? step_size : per_example(step_size, grad);
  switch (norm) {
    case Norm::Linf:
      return alpha * grad.sign();
    case Norm::L2: {
      const torch::Tensor norms = flat(grad).norm(2, 1).clamp_min(1e-12);
      return alpha * grad / per_example(norms, grad);
    }
    case Norm::L1: {
      const torch::Tensor g = flat(grad);
      const int64_t d = g.size(1);
      const int64_t k = std::max<int64_t>(1, static_cast<int64_t>(std::llround(l1_sparsity * d)));
      const torch::Tensor threshold = std::get<0>(g.abs().topk(k, 1)).select(1, k - 1).unsqueeze(1);
      torch::Tensor e = g.sign() * (g.abs() >= threshold).to(g.scalar_type());
      e = e / e.abs().sum(1, true).clamp_min(1);
      return alpha * e.view_as(grad);
    }
  }
  TORCH_INTERNAL_ASSERT(false);
}

}  // namespace advtk
