// Threat models: a norm ball of radius eps around x, intersected with the valid pixel box
// [lo, hi]. One implementation per norm of the four pieces every gradient attack needs:
// projection, random start, steepest-ascent step and distance.
//
// Tensors are batches [N, ...]; all functions work per example.
#pragma once

#include <cstdint>
#include <string>

#include "core/torch.h"

namespace advtk {

enum class Norm { Linf, L2, L1 };

std::string norm_name(Norm norm);          // "linf", "l2", "l1"
Norm parse_norm(const std::string& name);  // throws advtk::Error

struct ThreatModel {
  Norm norm = Norm::Linf;
  double eps = 0.0;
  double lo = 0.0, hi = 1.0;
};

// Rejects a budget that is negative or not finite, or an empty box (advtk::Error naming --eps).
void check_threat(const ThreatModel& threat);

// The norm of each row of d [N, D].
torch::Tensor row_norm(Norm norm, const torch::Tensor& d);

// Per-example distance ||a - b|| in `norm`, shape [N].
torch::Tensor distance(Norm norm, const torch::Tensor& a, const torch::Tensor& b);

// Projects x_adv onto {z : ||z - x|| <= eps, lo <= z <= hi}. Exact for Linf (two boxes) and L1
// (the sorting-based projection onto the L1 ball with the box bounds folded in, after Duchi et
// al. 2008 and Croce & Hein 2021); for L2 the ball projection followed by clipping to the box,
// which stays inside both sets (clipping only shrinks each coordinate of the perturbation).
torch::Tensor project(const ThreatModel& threat, const torch::Tensor& x_adv,
                      const torch::Tensor& x);

// A point drawn uniformly from the ball around each example (then clipped to the box).
// `generators[i]` draws example i's noise, so the start does not depend on batching.
torch::Tensor random_start(const ThreatModel& threat, const torch::Tensor& x,
                           std::vector<torch::Generator>& generators);

// The largest distance in `norm` between two points of a box of width `range` in `features`
// coordinates: range (Linf), range·√features (L2), range·features (L1).
double box_diameter(Norm norm, double range, int64_t features);
// advtk::Error naming `eps` when it exceeds that diameter: such a budget admits every point of
// the box, so it is a slip (1e308 for 1e-3) to name rather than run (or overflow a step size).
void check_budget_within_box(double eps, Norm norm, double range, int64_t features);

// The steepest-ascent step of size `step_size` (in the norm) along `grad`:
// Linf: step·sign(g); L2: step·g/||g||; L1: the sparse step of Tramèr & Boneh 2019 (SLIDE) —
// sign(g) on the coordinates whose |g| is in the top `l1_sparsity` fraction, scaled to L1 norm
// `step_size`. `step_size` is a scalar or a per-example [N] tensor.
torch::Tensor steepest_step(Norm norm, const torch::Tensor& grad, const torch::Tensor& step_size,
                            double l1_sparsity = 0.01);

// Projection of each row of z [N, D] onto {d : ||d||_1 <= eps, lower <= d <= upper}, where
// lower <= 0 <= upper elementwise (exact; see project()).
torch::Tensor project_l1_box(const torch::Tensor& z, double eps, const torch::Tensor& lower,
                             const torch::Tensor& upper);
// The same with one radius per row (`eps` [N]).
torch::Tensor project_l1_box(const torch::Tensor& z, const torch::Tensor& eps,
                             const torch::Tensor& lower, const torch::Tensor& upper);

}  // namespace advtk
