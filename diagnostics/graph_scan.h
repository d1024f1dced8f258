// A scan of a TorchScript model's forward graph (submodules inlined) for the operations behind
// gradient masking (Athalye, Carlini & Wagner 2018): zero-derivative steps (round, floor, ceil,
// sign, comparisons, integer casts), cut gradient paths (detach, argmax/sort/topk indices) and
// randomness (rand, dropout, bernoulli, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

enum class OpRisk {
  ZeroDerivative,  // piecewise constant: its gradient is zero almost everywhere
  GraphCut,        // no gradient flows through it
  Random,          // a fresh draw every pass
  Discontinuous,   // jumps the gradient does not see (remainder, fmod, frac)
};

// "zero-derivative", "graph-cut", "random", "discontinuous"
std::string op_risk_name(OpRisk risk);

// Whether `node` is aten::to of a tensor to an integer or boolean dtype (x.long(), ...).
bool cast_is_to_integer(const torch::jit::Node* node);
// `with torch.no_grad():` (prim::Enter on a no_grad object; other with-blocks keep the gradient).
bool enters_no_grad(const torch::jit::Node* node);

struct RiskyOp {
  std::string op;  // e.g. "aten::round"
  OpRisk risk;
  int64_t count = 0;
};

// The risky operations of `module`'s forward, in order of first appearance. Throws
// advtk::Error when the module has no scriptable forward graph.
std::vector<RiskyOp> scan_forward_graph(const torch::jit::Module& module);

}  // namespace advtk
