// A model whose graph has no gradient path to its input (a comparison cast to float, as in a
// thermometer encoding): autograd sees a zero gradient. Every attack must run on it, stay in its
// budget and the box, and report what it found — never throw, never produce NaN.
#include <gtest/gtest.h>

#include "attack_test_util.h"
#include "attacks/registry.h"

namespace advtk {
namespace {

Model thresholded_affine(const torch::Tensor& w, const torch::Tensor& b) {
  torch::jit::Module m("Thresholded");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.register_parameter("b", b, false);
  m.define(
      "def forward(self, x):\n"
      "    v = torch.gt(torch.flatten(x, 1), 0.5).float()\n"
      "    return torch.addmm(self.b, v, self.w.t())\n");
  return Model::wrap(m, ModelOptions{}, "thresholded");
}

TEST(CutGraph, EveryAttackRunsAndStaysInItsBudget) {
  auto gen = make_generator(9);
  const torch::Tensor w = torch::randn({4, 16}, gen), b = torch::randn({4}, gen);
  const Model model = thresholded_affine(w, b);
  const torch::Tensor x = torch::rand({12, 1, 4, 4}, gen);
  AttackBatch batch{x, model.logits(x).argmax(1), {}, torch::arange(12, torch::kLong)};
  for (const auto& info : attack_registry()) {
    for (Norm norm : info.norms) {
      AttackConfig c;
      c.norm = norm;
      c.eps = norm == Norm::Linf ? 0.1 : norm == Norm::L2 ? 0.5 : 2.0;
      c.steps = 5;
      c.queries = 50;
      c.draws = 5;
      c.binary_search_steps = 2;
      SCOPED_TRACE(info.name + " " + norm_name(norm));
      AttackResult r;
      ASSERT_NO_THROW(r = make_attack(info, c)->run(model, batch));
      EXPECT_TRUE(torch::isfinite(r.x_adv).all().item<bool>());
      EXPECT_GE(r.x_adv.min().item<double>(), 0.0);
      EXPECT_LE(r.x_adv.max().item<double>(), 1.0);
      if (!info.minimum_norm)
        EXPECT_LE(distance(norm, r.x_adv, x).max().item<double>(), c.eps * (1 + 1e-5) + 1e-6);
      // The reported success is the truth at the returned point.
      EXPECT_TRUE(torch::equal(r.success, model.logits(r.x_adv).argmax(1).ne(batch.y)));
    }
  }
}

}  // namespace
}  // namespace advtk
