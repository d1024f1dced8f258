// Models with known geometry for attack tests.
#pragma once

#include "attacks/attack.h"
#include "core/seeding.h"
#include "core/torch.h"
#include "models/model.h"

namespace advtk::test {

// logits = W · flatten(x) + b: an affine classifier whose decision boundaries are hyperplanes,
// so minimal perturbations are known in closed form.
inline Model affine_model(const torch::Tensor& w, const torch::Tensor& b, double lo = 0,
                          double hi = 1) {
  torch::jit::Module m("Affine");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.register_parameter("b", b, false);
  m.define(
      "def forward(self, x):\n    return torch.addmm(self.b, torch.flatten(x, 1), self.w.t())\n");
  ModelOptions o;
  o.input_lo = lo;
  o.input_hi = hi;
  return Model::wrap(m, o, "affine");
}

// The exact minimal L2 distance from x [D] to the set where class y stops winning:
// min over j ≠ y of (z_y - z_j) / ||w_y - w_j||.
inline double affine_min_l2(const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& x,
                            int64_t y) {
  const torch::Tensor z = torch::mv(w, x) + b;
  double best = 1e300;
  for (int64_t j = 0; j < w.size(0); ++j) {
    if (j == y) continue;
    const double d = (z[y] - z[j]).item<double>() / (w[y] - w[j]).norm().item<double>();
    best = std::min(best, d);
  }
  return best;
}

struct AffineProblem {
  torch::Tensor w, b, x, y;
};

// K classes over D inputs with x in the middle of a wide box, so no bound is active.
inline AffineProblem problem(int64_t n, int64_t k, int64_t d, uint64_t seed) {
  auto gen = make_generator(seed);
  AffineProblem p;
  p.w = torch::randn({k, d}, gen) * 0.5;
  p.b = torch::randn({k}, gen);
  p.x = torch::randn({n, 1, 1, d}, gen);
  p.y = torch::addmm(p.b, p.x.flatten(1), p.w.t()).argmax(1);  // every example starts correct
  return p;
}

inline AttackBatch batch_of(const AffineProblem& p) {
  return {p.x, p.y, {}, torch::arange(p.x.size(0), torch::kLong)};
}

// The exact minimal distance in `norm` from x to the nearest other class's region, for an
// affine model with the box inactive: min over j of (z_y - z_j) / ||w_y - w_j||_dual.
inline torch::Tensor affine_min_distance(const AffineProblem& p, const std::string& dual_norm) {
  const torch::Tensor z = torch::addmm(p.b, p.x.flatten(1), p.w.t());
  const int64_t n = p.x.size(0), k = p.w.size(0);
  torch::Tensor out = torch::full({n}, 1e30, torch::kDouble);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = p.y[i].item<int64_t>();
    for (int64_t j = 0; j < k; ++j) {
      if (j == y) continue;
      const torch::Tensor dw = p.w[y] - p.w[j];
      const double dual = dual_norm == "l1"   ? dw.abs().sum().item<double>()
                          : dual_norm == "l2" ? dw.norm().item<double>()
                                              : dw.abs().max().item<double>();
      const double d = (z[i][y] - z[i][j]).item<double>() / dual;
      out[i] = std::min(out[i].item<double>(), d);
    }
  }
  return out;
}

}  // namespace advtk::test
