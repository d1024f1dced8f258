#include <gtest/gtest.h>

#include "attacks/attack_test_util.h"
#include "diagnostics/numerical_probe.h"
#include "test_util.h"

namespace advtk {
namespace {

// affine_model with `front` applied to the flattened input first (e.g. "torch.log(v)").
Model wrapped_affine(const torch::Tensor& w, const torch::Tensor& b, const std::string& front) {
  torch::jit::Module m("Wrapped");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w", w, false);
  m.register_parameter("b", b, false);
  m.define("def forward(self, x):\n    v = torch.flatten(x, 1)\n    v = " + front +
           "\n    return torch.addmm(self.b, v, self.w.t())\n");
  return Model::wrap(m, ModelOptions{}, "wrapped");
}

const ExtremeProbe& probe(const NumericalReport& r, const std::string& id) {
  for (const auto& p : r.probes)
    if (p.id == id) return p;
  throw std::runtime_error("no probe " + id);
}

TEST(NumericalProbe, InputGradientNormsMatchTheAffineClosedForm) {
  // ∂CE/∂x = Wᵀ(softmax(Wx + b) − e_y) for an affine classifier.
  const Dataset data = test::toy(50, 5);
  auto gen = make_generator(2);
  const torch::Tensor w = torch::randn({4, 16}, gen), b = torch::randn({4}, gen);
  const Model model = test::affine_model(w, b);
  NumericalOptions o;
  o.batch_size = 16;
  const NumericalReport r = probe_numerics(model, data, o);
  const torch::Tensor x = data.images.flatten(1).to(torch::kDouble);
  const torch::Tensor p =
      torch::softmax(torch::addmm(b.to(torch::kDouble), x, w.t().to(torch::kDouble)), 1);
  const torch::Tensor g =
      torch::mm(p - torch::one_hot(data.labels, 4).to(torch::kDouble), w.to(torch::kDouble));
  const torch::Tensor norms = g.norm(2, {1});
  EXPECT_EQ(r.gradient.examples, 50);
  EXPECT_NEAR(r.gradient.median_l2, norms.median().item<double>(), 1e-4);
  EXPECT_NEAR(r.gradient.max_l2, norms.max().item<double>(), 1e-4);
  EXPECT_EQ(r.gradient.fraction_zero, 0.0);
  // The margin's gradient is w_j* − w_y, j* the strongest other class.
  const torch::Tensor z = torch::addmm(b, data.images.flatten(1), w.t());
  std::vector<double> margin;
  for (int64_t i = 0; i < 50; ++i) {
    const int64_t yi = data.labels[i].item<int64_t>();
    const int64_t j = z[i].index_fill(0, torch::tensor({yi}), -1e30).argmax().item<int64_t>();
    margin.push_back((w[j] - w[yi]).norm().item<double>());
  }
  EXPECT_NEAR(r.gradient.margin_median_l2,
              torch::tensor(margin, torch::kDouble).median().item<double>(), 1e-4);
  EXPECT_EQ(r.gradient.fraction_nonfinite, 0.0);
  // A healthy affine model: nothing flagged; a NaN pixel makes every output NaN.
  EXPECT_TRUE(r.flags.empty()) << r.flags.front();
  EXPECT_EQ(probe(r, "nan-pixel").nonfinite_outputs, 50);
  EXPECT_EQ(probe(r, "tiny-noise").nonfinite_outputs, 0);
  EXPECT_EQ(probe(r, "all-lo").predicted_classes.size(), 1u);
  EXPECT_EQ(probe(r, "all-lo").predicted_classes[0], b.argmax().item<int64_t>());  // W·0 + b
}

TEST(NumericalProbe, FlagsNonFiniteOutputsOnFiniteInputs) {
  auto gen = make_generator(3);
  const Model model = wrapped_affine(torch::randn({4, 16}, gen), torch::zeros({4}), "torch.log(v)");
  const NumericalReport r = probe_numerics(model, test::toy(20, 1), {});
  EXPECT_TRUE(probe(r, "all-lo").flagged);          // log 0 = −inf
  EXPECT_TRUE(probe(r, "mirrored-below").flagged);  // log of negatives = NaN
  EXPECT_FALSE(probe(r, "all-hi").flagged);
  EXPECT_FALSE(r.flags.empty());
}

TEST(NumericalProbe, FlagsCorruptInputsThatPassSilently) {
  auto gen = make_generator(4);
  const Model model = wrapped_affine(torch::randn({4, 16}, gen), torch::zeros({4}),
                                     "torch.nan_to_num(v, 0.0, 1.0, 0.0)");
  const NumericalReport r = probe_numerics(model, test::toy(20, 1), {});
  EXPECT_TRUE(probe(r, "nan-pixel").flagged);
  EXPECT_EQ(probe(r, "nan-pixel").nonfinite_outputs, 0);
  EXPECT_TRUE(probe(r, "inf-pixel").flagged);
}

TEST(NumericalProbe, FlagsExplodingGradientsOnTheMarginNotOnConfidence) {
  // exp(10 v): the gradient at pixels of 1 is e^7 ≈ 1100× that at pixels ≤ 0.3.
  Dataset data = test::toy(50, 6);
  data.images.clamp_(0, 0.3);  // every example in [0, 0.3] but the first, all ones
  data.images[0].fill_(1.0);
  auto gen = make_generator(7);
  const Model model =
      wrapped_affine(torch::randn({4, 16}, gen), torch::zeros({4}), "torch.exp(10.0 * v)");
  const NumericalReport r = probe_numerics(model, data, {});
  EXPECT_DOUBLE_EQ(r.gradient.fraction_exploding, 0.02);
  bool flagged = false;
  for (const auto& f : r.flags) flagged |= f.find("exploding") != std::string::npos;
  EXPECT_TRUE(flagged);
}

TEST(NumericalProbe, FindsTheOneExampleWithAnInfiniteGradient) {
  // d sqrt(v)/dv is infinite at 0: only the example with a zero pixel has a non-finite gradient.
  Dataset data = test::toy(10, 2);
  data.images = data.images * 0.5 + 0.25;  // strictly positive
  data.images[3][0][1][1] = 0.0;
  auto gen = make_generator(5);
  const Model model =
      wrapped_affine(torch::randn({4, 16}, gen), torch::zeros({4}), "torch.sqrt(v)");
  const NumericalReport r = probe_numerics(model, data, {});
  EXPECT_DOUBLE_EQ(r.gradient.fraction_nonfinite, 0.1);
  bool flagged = false;
  for (const auto& f : r.flags)
    flagged |= f.find("non-finite input gradients") != std::string::npos;
  EXPECT_TRUE(flagged);
}

}  // namespace
}  // namespace advtk
