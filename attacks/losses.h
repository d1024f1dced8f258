// Per-example attack objectives, all written to be maximised by the attacker.
//
//   ce      cross-entropy: CE(z, y) untargeted, -CE(z, t) targeted
//   margin  Carlini & Wagner 2017's logit difference: max_{j≠y} z_j - z_y untargeted,
//           z_t - max_{j≠t} z_j targeted; clipped at the confidence κ when κ is finite
//   dlr     Croce & Hein 2020's difference of logits ratio, invariant to shifting and scaling the
//           logits: -(z_y - max_{j≠y} z_j) / (z_π1 - z_π3) untargeted,
//           -(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2) targeted (π: classes by decreasing logit)
//   kl      KL(softmax(r) ‖ softmax(z)) against reference logits r, the model's output on the clean
//           input: TRADES' inner maximisation (Zhang et al. 2019); it needs no label, and its
//           gradient vanishes at z = r, so it is used with a random start
#pragma once

#include <limits>
#include <string>

#include "core/torch.h"

namespace advtk {

enum class LossKind { CrossEntropy, Margin, Dlr, Kl };

std::string loss_name(LossKind kind);
LossKind parse_loss(const std::string& name);  // throws advtk::Error

struct LossSpec {
  LossKind kind = LossKind::CrossEntropy;
  double confidence = std::numeric_limits<double>::infinity();  // κ for the margin loss
};

// logits [N, K]; labels [N]; target [N] or undefined (untargeted); reference [N, K], for kl only.
// Returns [N].
torch::Tensor attack_loss(const LossSpec& spec, const torch::Tensor& logits,
                          const torch::Tensor& labels, const torch::Tensor& target,
                          const torch::Tensor& reference = {});

// max_{j≠c} z_j per example: the strongest competitor of class c.
torch::Tensor best_other_logit(const torch::Tensor& logits, const torch::Tensor& classes);

}  // namespace advtk
