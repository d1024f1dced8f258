// Planting poison in a training set, so that a user can test their own pipeline's defenses end
// to end: BadNets (Gu, Dolan-Gavitt & Garg 2017: a white square patch, 3×3 in the bottom-right
// corner by default, stamped on and the label set to the target), Blend (Chen, Liu, Li, Lu & Song
// 2017: a fixed random pattern drawn from the seed, blended in with weight α = 0.2, label set to
// the target), and label flipping (labels moved to the target, images untouched: availability
// poisoning). The poisoned examples — a fraction `rate` of the whole set — are drawn at random
// (from the seed) among the examples not already of the target class.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"
#include "models/model.h"

namespace advtk {

enum class PoisonAttack { BadNets, Blend, LabelFlip };
std::string poison_attack_name(PoisonAttack attack);  // badnets, blend, label-flip

enum class Corner { BottomRight, BottomLeft, TopRight, TopLeft };
std::string corner_name(Corner corner);  // bottom-right, bottom-left, top-right, top-left

struct PoisonOptions {
  PoisonAttack attack = PoisonAttack::BadNets;
  double rate = 0.1;         // in (0, 1): the poisoned fraction of the whole set
  int64_t target = 0;        // the class the poison points to
  int64_t trigger_size = 3;  // BadNets: the patch's side in pixels
  Corner corner = Corner::BottomRight;
  double alpha = 0.2;  // Blend: the pattern's weight, in (0, 1]
  uint64_t seed = 0;
};

// x' = (1 − mask)·x + mask·pattern; for label flipping, no trigger (mask zero).
struct Trigger {
  torch::Tensor pattern;  // [C, H, W] in [0, 1]
  torch::Tensor mask;     // [1, H, W] in [0, 1]
  bool empty() const { return !mask.defined() || mask.max().item<double>() == 0; }
};

// Throws advtk::Error naming the option: a target out of range, a rate outside (0, 1) or larger
// than the non-target share, a patch larger than the image, α outside (0, 1].
void validate_poison(const PoisonOptions& options, const Dataset& data);

Trigger make_trigger(const PoisonOptions& options, const std::vector<int64_t>& image_shape);

// images [N, C, H, W] in [0, 1] with the trigger applied.
torch::Tensor apply_trigger(const Trigger& trigger, const torch::Tensor& images);

struct PoisonedSet {
  Dataset data;         // the whole set, poisoned examples changed in place
  torch::Tensor index;  // [P] int64 ascending: positions of the changed examples
  Trigger trigger;
};

PoisonedSet poison_dataset(const Dataset& clean, const PoisonOptions& options);

// The fraction of `data`'s examples not of the target class that the model assigns to the target
// once the trigger is applied (the attack success rate).
double attack_success_rate(const Model& model, const Dataset& data, const Trigger& trigger,
                           int64_t target, int64_t batch_size);

}  // namespace advtk
