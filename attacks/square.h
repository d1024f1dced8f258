// Square Attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a query-efficient
// black-box adversarial attack via random search", ECCV): a score-based, gradient-free attack
// that only reads logits. Each query changes the current best point inside one random square
// window and keeps the change when the loss falls (or the example becomes adversarial); the
// window's area is a fraction p of the image that shrinks on a fixed schedule.
//   Linf: the start puts ±eps vertical stripes on the image; an update sets a window to ±eps
//         (one sign per channel), i.e. moves it to another vertex of the ball.
//   L2:   the start tiles the image with "meta pseudo-Gaussian" windows (concentric rectangles of
//         opposite signs) at norm eps; an update moves the mass of a second window into the
//         first, redrawn as such a window, keeping the norm at eps.
//   L1:   Croce & Hein 2021 ("Mind the box"), as in AutoAttack's L1 Square: the L2 scheme with
//         L1 masses and ring weights 1/(k+1)^4, each candidate projected onto the L1 ball of
//         radius eps·(1 - 1e-6) within the box.
// Loss as in AutoAttack's implementation (fra31/auto-attack, autoattack/square.py), which this
// follows: untargeted, the margin z_y - max_{j≠y} z_j; targeted, the cross-entropy towards the
// target. Defaults: 5000 queries, p_init 0.8, 1 restart, and the paper's schedule of p (tuned
// for 10,000 queries) stretched to the budget, as in the paper's code and the reference class's
// default; AutoAttack's suites turn the stretching off (rescale_schedule = false), and so do
// advtk's autoattack presets. One query is one forward pass per example
// still robust; the first query is the start. Never computes a gradient. Departures from the
// reference: each example draws its own windows and signs from its own generator (the reference
// shares them across the batch); a window may sit at every position that fits, as in the paper
// (the reference's upper bound is exclusive, so no window ever covers the last row or column);
// windows never exceed the image, and the L2 start uses 1-pixel tiles below 5 rows (where the
// reference fails); success is the prediction, not margin <= 0 (they differ only on exact ties).
//
// Example: SquareAttack attack({ThreatModel{Norm::Linf, 8.0 / 255}}); auto r = attack.run(m, b);
#pragma once

#include <cstdint>

#include "attacks/attack.h"
#include "attacks/attack_info.h"

namespace advtk {

struct SquareOptions {
  ThreatModel threat;            // Linf or L2
  int64_t queries = 5000;        // per example and restart, after the start
  double p_init = 0.8;           // the first windows cover this fraction of the image
  int64_t restarts = 1;          // later restarts attack only the examples still robust
  bool rescale_schedule = true;  // p's schedule at query q * 10000 / queries, else at q
  uint64_t seed = 0;
};

class SquareAttack : public Attack {
 public:
  explicit SquareAttack(SquareOptions options);
  // batch.x must be images [N, C, H, W].
  AttackResult run(const Model& model, const AttackBatch& batch) override;
  std::string name() const override { return "square"; }
  Norm norm() const override { return options_.threat.norm; }
  bool minimum_norm() const override { return false; }
  double budget() const override { return options_.threat.eps; }
  nlohmann::json parameters() const override;
  const SquareOptions& options() const { return options_; }

 private:
  SquareOptions options_;
};

// The fraction p of the image a window covers at query `query` (0-based, after the start) of
// `queries`: p_init, halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 queries of a
// 10,000-query run, with `query` rescaled to 10,000 when `rescale` holds.
double square_p_schedule(double p_init, int64_t query, int64_t queries, bool rescale = true);

// The mass [m, c, 1, 1] each channel of the update's new window gets, from the perturbation
// delta [m, c, h, w] and the mask of both windows [m, 1, h, w]. L2 (Andriushchenko et al. 2020's
// reference): the channel's own L2 mass in both windows plus its share of the unspent budget
// eps² − ‖delta‖², so the moved perturbation keeps the norm max(eps, ‖delta‖) and nothing outside
// the windows shrinks. (AutoAttack's port adds every channel's window mass to each channel, which
// overshoots by (c − 1)·mass² on colour images; the final rescaling to eps then shrinks the rest.)
// L1 (Croce & Hein 2021, AutoAttack's L1 Square): the unspent budget's share plus the channel's L1
// mass in both windows, times c (the reference's factor; the projection trims the excess).
torch::Tensor square_window_mass(Norm norm, const torch::Tensor& delta,
                                 const torch::Tensor& in_windows, double eps);

// The L2 update's s×s window shape (float, on the CPU): the top s/2 rows hold concentric
// rectangles weighted 1/(k+1)² for ring k, the bottom rows the same with a minus sign; unit
// Frobenius norm.
torch::Tensor square_l2_window(int64_t s);

// The L1 update's s×s window shape: the same layout with ring weights 1/(k+1)^4, each half and
// then the whole of unit L1 norm (AutoAttack's L1 Square).
torch::Tensor square_l1_window(int64_t s);

// The registry's entry "square".
AttackInfo square_info();

}  // namespace advtk
