// BPDA without splitting the model by hand (Athalye, Carlini & Wagner 2018): a copy of a
// TorchScript module whose zero-derivative operations pass the gradient straight through.
// Each y = round(x) (floor, ceil, trunc, sign) becomes x + (y - x).detach(), and each
// comparison cast to a float, y = (x > t).float(), becomes x + (y - x).detach(): the forward
// values are unchanged, the backward takes the operation as the identity.
#pragma once

#include <cstdint>

#include "core/torch.h"

namespace advtk {

struct StraightThrough {
  torch::jit::Module module;  // the rewritten copy (the original is untouched)
  int64_t rewritten = 0;      // operations given a straight-through gradient
};

// Throws advtk::Error when the module's forward cannot be rewritten.
StraightThrough straight_through_copy(const torch::jit::Module& module);

}  // namespace advtk
