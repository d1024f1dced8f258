// How sharp is the minimum a model sits in? Two numbers for the loss as a function of the weights,
// on a fixed sample of the data, in eval mode (the function the model computes when deployed):
//
// - the top eigenvalue of the Hessian ∇²_w L, by power iteration on Hessian-vector products
//   (Pearlmutter 1994; as in Yao et al. 2020, "PyHessian"). Larger = sharper along the worst
//   direction. It depends on the weights' scale (Dinh et al. 2017), so compare models of the same
//   architecture and loss.
// - the mean loss increase under random weight perturbations of relative size ρ: each parameter
//   tensor w moves by ρ·‖w‖·u/‖u‖ (u Gaussian), taken in antithetic pairs ±δ so the first-order
//   term cancels exactly (Keskar et al. 2017 use a box of relative size ε; Jiang et al. 2020 found
//   such magnitude-aware measures the better predictors of generalisation). Scale-free.
#pragma once

#include <cstdint>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"
#include "models/model.h"

namespace advtk {

struct SharpnessOptions {
  int64_t examples = 1000;  // the first examples of the data (the loss is their mean CE)
  int64_t batch_size = 250;
  int64_t power_iterations = 50;  // at most
  double tolerance = 1e-3;        // stop when the eigenvalue changes by less than this, relatively
  std::vector<double> rhos = {0.01, 0.05};
  int64_t perturbation_pairs = 10;  // antithetic pairs per ρ
  uint64_t seed = 0;
};

struct PerturbationFigure {
  double rho = 0.0;
  double mean_increase = 0.0;  // mean over draws of L(w ± δ) − L(w)
  double std_increase = 0.0;   // across pairs
  double max_increase = 0.0;
};

struct SharpnessReport {
  int64_t examples = 0;
  int64_t parameters = 0;
  double loss = 0.0;  // at the trained weights
  double top_eigenvalue = 0.0;
  int64_t iterations = 0;
  bool converged = false;
  std::vector<PerturbationFigure> perturbation;
  double seconds = 0.0;
};

// The model's weights are left exactly as they were.
SharpnessReport measure_sharpness(const Model& model, const Dataset& data,
                                  const SharpnessOptions& options);

// Mean cross-entropy of the model over the first `examples` of `data` (no gradients).
double mean_loss(const Model& model, const Dataset& data, int64_t examples, int64_t batch_size);

}  // namespace advtk
