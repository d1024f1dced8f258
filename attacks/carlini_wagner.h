// Carlini & Wagner 2017 ("Towards evaluating the robustness of neural networks"), L2: minimise
// ||x' - x||² + c · max(z_y - max_{j≠y} z_j, -κ) over x' = lo + (hi - lo)(tanh(w) + 1)/2 with
// Adam, restarting from x for each c of a per-example binary search (×10 until the first
// success, then bisection). Reports the smallest successful perturbation found per example.
//
// The paper's defaults: 9 binary-search steps from c = 1e-3, Adam at a constant learning rate of
// 0.01 for up to 10,000 steps with an early abort, κ = 0. Measured on the zoo CNN (README,
// "CW-L2"), that schedule cut to 100 steps a run needed 650 gradient steps per example for the
// distances one run now reaches in 100. The departures:
// - c starts per example at 3× the first-order estimate c* = 2(f(x) + κ)/||∇f(x)||²: for a
//   linear f, c* is the smallest c whose minimiser reaches the boundary (δ = -c∇f/2 gives
//   f(x + δ) = -κ), and any c above it lands exactly on the minimal perturbation, since the
//   hinge makes the penalty exact; the factor covers the boundary's curvature. The paper's blind
//   start spent its first runs finding the scale of c. `initial_const` sets one c for all.
// - after a successful run, the next c is proposed by the KKT multiplier at the best point
//   (where the penalty becomes exact, measured on the real boundary), when it lies inside the
//   bisection's bracket; the bisection's midpoint otherwise.
// - each run is 100 Adam steps with the learning rate annealed from 0.1 to 0.001 (cosine): the
//   large steps free pixels at the box bounds, where tanh is flat, the small ones converge; a
//   constant 0.01 needed hundreds of steps to move such pixels at all.
// - with `stop_at_first_success` (the CLI's early stop, default), an example leaves the search
//   after a successful run whose c was at most 4× the multiplier (a well-conditioned run, see
//   kRerunRatio); without it, every example runs all `binary_search_steps` values of c.
// - pixels on the box bounds start 5e-4·(hi - lo) inside it, where tanh is not flat (kTanhLimit).
//
// Example: CarliniWagnerL2 attack({}); AttackResult r = attack.run(model, batch);
#pragma once

#include <limits>

#include <optional>

#include "attacks/attack.h"
#include "attacks/attack_info.h"

namespace advtk {

struct CarliniWagnerOptions {
  int64_t binary_search_steps = 9;      // values of c tried per example, at most
  int64_t steps = 100;                  // Adam steps per value of c
  double learning_rate = 0.1;           // Adam's first step size, annealed to 1% of it
  std::optional<double> initial_const;  // unset: 3× the per-example first-order estimate
  double confidence = 0.0;              // κ
  bool stop_at_first_success = true;
  double lo = 0.0, hi = 1.0;
};

class CarliniWagnerL2 : public Attack {
 public:
  explicit CarliniWagnerL2(CarliniWagnerOptions options);
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "cw"; }
  Norm norm() const override { return Norm::L2; }
  bool minimum_norm() const override { return true; }
  double budget() const override { return std::numeric_limits<double>::infinity(); }
  nlohmann::json parameters() const override;

 private:
  CarliniWagnerOptions options_;
};

// The smallest c for which the minimiser of ||δ||² + c·max(f(x) + g·δ, -κ) reaches f = -κ:
// 2(f + κ)/||g||² per example (f [N], g [N, ...], double), NaN where that is not positive and
// finite (x already adversarial, or no gradient).
torch::Tensor first_order_const(const torch::Tensor& f, const torch::Tensor& g, double confidence);

// The KKT multiplier of min ||δ|| s.t. f(x + δ) = -κ at a point on the boundary, from its distance
// to x and the gradient g of f there: 2·distance/||g||, the smallest c for which the penalty is
// exact. For a linear f at the minimal perturbation it equals first_order_const at x.
torch::Tensor kkt_multiplier(const torch::Tensor& distance, const torch::Tensor& g);

// The first c of each example's search: 3× first_order_const, the paper's 1e-3 where there is
// none, at most 1e12 (so that c stays finite in float).
torch::Tensor initial_search_const(const torch::Tensor& f, const torch::Tensor& g,
                                   double confidence);

// The registry's entry "cw".
AttackInfo cw_info();

}  // namespace advtk
