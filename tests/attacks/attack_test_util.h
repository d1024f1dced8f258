// Models with known geometry for attack tests.
#pragma once

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

}  // namespace advtk::test
