// Sharpness against the closed-form Hessian of softmax regression, where
// H = (1/N) Σ_n (diag(p_n) − p_n p_nᵀ) ⊗ x̃_n x̃_nᵀ with x̃ = [x, 1] (weights and bias).
#include <gtest/gtest.h>

#include "attacks/attack_test_util.h"
#include "diagnostics/sharpness.h"
#include "test_util.h"

namespace advtk {
namespace {

struct SoftmaxRegression {
  torch::Tensor w, b;
  Dataset data;
};

SoftmaxRegression problem() {
  SoftmaxRegression p;
  p.data = test::toy(96, 3);
  auto gen = make_generator(11);
  p.w = torch::randn({4, 16}, gen) * 0.7;
  p.b = torch::randn({4}, gen) * 0.3;
  return p;
}

// The exact Hessian in the (class, input-or-bias) ordering; eigenvalues do not depend on it.
torch::Tensor exact_hessian(const SoftmaxRegression& p, torch::Tensor* trace_w,
                            torch::Tensor* trace_b) {
  const torch::Tensor x = p.data.images.flatten(1).to(torch::kDouble);
  const torch::Tensor probs =
      torch::softmax(torch::addmm(p.b.to(torch::kDouble), x, p.w.t().to(torch::kDouble)), 1);
  const int64_t n = x.size(0), k = p.w.size(0), d = x.size(1) + 1;
  torch::Tensor h = torch::zeros({k * d, k * d}, torch::kDouble);
  *trace_w = torch::zeros({}, torch::kDouble);
  *trace_b = torch::zeros({}, torch::kDouble);
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor a = torch::diag(probs[i]) - torch::outer(probs[i], probs[i]);
    const torch::Tensor xt = torch::cat({x[i], torch::ones({1}, torch::kDouble)});
    h += torch::kron(a, torch::outer(xt, xt));
    *trace_w += torch::trace(a) * x[i].pow(2).sum();
    *trace_b += torch::trace(a);
  }
  *trace_w /= n;
  *trace_b /= n;
  return h / n;
}

TEST(Sharpness, TopEigenvalueMatchesTheExactHessian) {
  const SoftmaxRegression p = problem();
  const Model model = test::affine_model(p.w.clone(), p.b.clone());
  torch::Tensor tw, tb;
  const double exact =
      torch::linalg::eigvalsh(exact_hessian(p, &tw, &tb), "L").max().item<double>();
  SharpnessOptions o;
  o.batch_size = 40;  // several batches: the HVP sums them
  o.power_iterations = 1000;
  o.tolerance = 1e-7;
  o.perturbation_pairs = 1;
  const SharpnessReport r = measure_sharpness(model, p.data, o);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.examples, 96);
  EXPECT_EQ(r.parameters, 4 * 16 + 4);
  EXPECT_NEAR(r.top_eigenvalue, exact, 1e-3 * exact);
}

TEST(Sharpness, PerturbationIncreaseMatchesTheQuadraticTerm) {
  // Antithetic pairs cancel odd orders: E[increase] = ρ²/2 · Σ_t ‖w_t‖² tr(H_tt) / d_t + O(ρ⁴).
  const SoftmaxRegression p = problem();
  const Model model = test::affine_model(p.w.clone(), p.b.clone());
  torch::Tensor tw, tb;
  exact_hessian(p, &tw, &tb);
  const double rho = 0.05;
  const double expected =
      0.5 * rho * rho *
      (p.w.to(torch::kDouble).pow(2).sum().item<double>() * tw.item<double>() / 64 +
       p.b.to(torch::kDouble).pow(2).sum().item<double>() * tb.item<double>() / 4);
  SharpnessOptions o;
  o.power_iterations = 1;
  o.rhos = {rho};
  o.perturbation_pairs = 3000;
  const SharpnessReport r = measure_sharpness(model, p.data, o);
  ASSERT_EQ(r.perturbation.size(), 1u);
  EXPECT_NEAR(r.perturbation[0].mean_increase, expected, 0.05 * expected);
  EXPECT_GE(r.perturbation[0].max_increase, r.perturbation[0].mean_increase);
}

TEST(Sharpness, LeavesTheWeightsExactlyAsTheyWere) {
  const SoftmaxRegression p = problem();
  const Model model = test::affine_model(p.w.clone(), p.b.clone());
  SharpnessOptions o;
  o.power_iterations = 5;
  o.perturbation_pairs = 3;
  measure_sharpness(model, p.data, o);
  const auto params = model.parameters();
  EXPECT_TRUE(torch::equal(params[0], p.w));
  EXPECT_TRUE(torch::equal(params[1], p.b));
  for (const auto& t : params) {
    EXPECT_FALSE(t.requires_grad());
    EXPECT_FALSE(t.grad().defined());
  }
}

}  // namespace
}  // namespace advtk
