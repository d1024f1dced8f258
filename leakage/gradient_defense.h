// What a client can do to what it shares, and what it costs: Gaussian noise on the shared object,
// pruning (the fraction of smallest-magnitude entries of each parameter's tensor set to zero; Zhu,
// Liu & Han 2019 report that DLG stops above ~20%), and DP-SGD (Abadi et al. 2016: each example's
// gradient clipped to L2 norm C, the sum noised with N(0, (zC)²), divided by the batch size; with
// local steps every step is privatised so). Larger batches are the fourth defense: the batch size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"
#include "leakage/shared_update.h"
#include "models/model.h"

namespace advtk {

enum class DefenseKind { None, Noise, Prune, DpSgd };

struct GradientDefense {
  DefenseKind kind = DefenseKind::None;
  double sigma = 0;             // Noise: standard deviation per entry
  double prune_fraction = 0;    // Prune: in [0, 1)
  double clip = 0;              // DP-SGD: per-example L2 bound C > 0
  double noise_multiplier = 0;  // DP-SGD: z ≥ 0

  // "none", "noise=0.01", "prune=0.5", "dpsgd=1,0.5": the CLI's spelling, for reports.
  std::string name() const;
};

// Throws advtk::Error naming the defense when a strength is out of range.
void validate_defense(const GradientDefense& defense);

struct ClientShare {
  std::vector<torch::Tensor> shared;  // what leaves the client (defended)
  std::vector<torch::Tensor> clean;   // what it would have shared undefended
  double utility_cosine = 1;          // cos(shared, clean): how much of the update survives
};

// The client's side for one batch: x in the model's input range, y int64 labels. Randomness
// (noise) comes from `gen` only.
ClientShare share_update(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                         int64_t num_classes, const ClientProtocol& protocol,
                         const GradientDefense& defense, torch::Generator& gen);

}  // namespace advtk
