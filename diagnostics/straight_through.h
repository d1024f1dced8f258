// BPDA without splitting the model by hand (Athalye, Carlini & Wagner 2018): a copy of a
// TorchScript module whose zero-derivative and graph-cutting operations get a surrogate
// gradient. Each y = f(x) becomes s(x) + (y − s(x)).detach(): the forward values are unchanged,
// the backward is that of the surrogate s:
//   round, floor, ceil, trunc, sign (and their in-place forms, made functional first),
//   heaviside, a cast to an integer type and back, detach, bucketize cast to float   s = x
//   a comparison cast to float: x > t, x >= t → s = x; x < t, x <= t → s = −x (decreasing)
//   torch.where(cmp(x, t), a, b) with constant a, b: s = ±x, the sign of the step
//   floor_divide(x, c), div(x, c, rounding_mode=…)                                   s = x / c
//   remainder, fmod, frac                                                       s = 0 (constant)
//   a `with torch.no_grad():` block                  removed: its body is differentiated as is
// Slope ±1 is BPDA's identity. remainder, fmod and frac are the bounded periodic part of a
// quantiser (x − remainder(x, c) is floor quantisation): their autograd slope 1 cancels the
// identity and leaves the quantiser flat, so their surrogate is the constant they oscillate
// around. Operations with no monotone surrogate (x == t, x != t, an in-place step on an aliased
// value, a no_grad block whose exit value is read) are not rewritten and are listed in `blocked`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

struct StraightThrough {
  torch::jit::Module module;         // the rewritten copy (the original is untouched)
  int64_t rewritten = 0;             // operations given a surrogate gradient
  std::vector<std::string> blocked;  // zero-derivative or graph-cutting ops left as they are
};

// Throws advtk::Error when the module's forward cannot be rewritten.
StraightThrough straight_through_copy(const torch::jit::Module& module);

}  // namespace advtk
