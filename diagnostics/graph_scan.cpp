#include "diagnostics/graph_scan.h"

#include <map>
#include <optional>

#include <torch/csrc/jit/passes/inliner.h>

#include "core/error.h"

namespace advtk {
namespace {

// ScalarType codes of the integer and boolean dtypes (c10::ScalarType): a cast to one of them
// has no gradient.
bool is_integer_dtype(int64_t code) {
  const auto t = static_cast<c10::ScalarType>(code);
  return c10::isIntegralType(t, /*includeBool=*/true);
}

}  // namespace

bool cast_is_to_integer(const torch::jit::Node* node) {
  if (std::string(node->kind().toQualString()) != "aten::to" || node->inputs().size() < 2 ||
      !node->inputs()[0]->type()->isSubtypeOf(*c10::TensorType::get()))
    return false;
  for (size_t i = 1; i < node->inputs().size(); ++i) {
    const torch::jit::Value* v = node->inputs()[i];
    if (v->type()->kind() != c10::TypeKind::IntType) continue;
    const auto dtype = torch::jit::toIValue(v);
    return dtype && dtype->isInt() && is_integer_dtype(dtype->toInt());
  }
  return false;
}

bool enters_no_grad(const torch::jit::Node* node) {
  if (std::string(node->kind().toQualString()) != "prim::Enter" || node->inputs().empty())
    return false;
  const auto cls = node->inputs()[0]->type()->cast<c10::ClassType>();
  return cls && cls->name() &&
         cls->name()->qualifiedName().find("grad_mode.no_grad") != std::string::npos;
}

namespace {

std::optional<OpRisk> risk_of(const torch::jit::Node* node) {
  static const std::map<std::string, OpRisk> kOps = {
      {"aten::round", OpRisk::ZeroDerivative},
      {"aten::round_", OpRisk::ZeroDerivative},
      {"aten::floor_", OpRisk::ZeroDerivative},
      {"aten::ceil_", OpRisk::ZeroDerivative},
      {"aten::trunc_", OpRisk::ZeroDerivative},
      {"aten::sign_", OpRisk::ZeroDerivative},
      {"aten::sgn_", OpRisk::ZeroDerivative},
      {"aten::floor_divide_", OpRisk::ZeroDerivative},
      {"aten::heaviside", OpRisk::ZeroDerivative},
      {"aten::heaviside_", OpRisk::ZeroDerivative},
      {"aten::remainder", OpRisk::Discontinuous},
      {"aten::remainder_", OpRisk::Discontinuous},
      {"aten::fmod", OpRisk::Discontinuous},
      {"aten::fmod_", OpRisk::Discontinuous},
      {"aten::frac", OpRisk::Discontinuous},
      {"aten::frac_", OpRisk::Discontinuous},
      {"aten::floor", OpRisk::ZeroDerivative},
      {"aten::ceil", OpRisk::ZeroDerivative},
      {"aten::trunc", OpRisk::ZeroDerivative},
      {"aten::sign", OpRisk::ZeroDerivative},
      {"aten::sgn", OpRisk::ZeroDerivative},
      {"aten::floor_divide", OpRisk::ZeroDerivative},
      {"aten::bucketize", OpRisk::ZeroDerivative},
      {"aten::searchsorted", OpRisk::ZeroDerivative},
      {"aten::gt", OpRisk::ZeroDerivative},
      {"aten::lt", OpRisk::ZeroDerivative},
      {"aten::ge", OpRisk::ZeroDerivative},
      {"aten::le", OpRisk::ZeroDerivative},
      {"aten::eq", OpRisk::ZeroDerivative},
      {"aten::ne", OpRisk::ZeroDerivative},
      {"aten::detach", OpRisk::GraphCut},
      {"aten::detach_", OpRisk::GraphCut},
      {"aten::argmax", OpRisk::GraphCut},
      {"aten::argmin", OpRisk::GraphCut},
      {"aten::argsort", OpRisk::GraphCut},
      {"aten::sort", OpRisk::GraphCut},
      {"aten::topk", OpRisk::GraphCut},
      {"aten::rand", OpRisk::Random},
      {"aten::randn", OpRisk::Random},
      {"aten::rand_like", OpRisk::Random},
      {"aten::randn_like", OpRisk::Random},
      {"aten::randint", OpRisk::Random},
      {"aten::randint_like", OpRisk::Random},
      {"aten::randperm", OpRisk::Random},
      {"aten::bernoulli", OpRisk::Random},
      {"aten::bernoulli_", OpRisk::Random},
      {"aten::normal", OpRisk::Random},
      {"aten::normal_", OpRisk::Random},
      {"aten::uniform_", OpRisk::Random},
      {"aten::multinomial", OpRisk::Random},
      // Dropout is left out: in eval mode it is the identity, which the graph does not show;
      // the randomness indicator sees it at run time when it is not.
  };
  const std::string kind = node->kind().toQualString();
  const auto it = kOps.find(kind);
  if (it != kOps.end()) {
    // Comparisons between plain numbers (shapes, loop counters) are control flow, not data.
    const bool comparison = kind == "aten::gt" || kind == "aten::lt" || kind == "aten::ge" ||
                            kind == "aten::le" || kind == "aten::eq" || kind == "aten::ne";
    if (comparison && !node->output()->type()->isSubtypeOf(*c10::TensorType::get())) return {};
    return it->second;
  }
  // x.long(), x.to(torch.uint8), ...: aten::to with a constant integer dtype.
  if (cast_is_to_integer(node)) return OpRisk::GraphCut;
  if (enters_no_grad(node)) return OpRisk::GraphCut;
  // x / c with a rounding mode ("floor", "trunc"): a step function.
  if (kind == "aten::div" && node->inputs().size() == 3) {
    const auto mode = torch::jit::toIValue(node->inputs()[2]);
    if (mode && mode->isString()) return OpRisk::ZeroDerivative;
  }
  return {};
}

void scan_block(const torch::jit::Block* block, std::vector<RiskyOp>& found) {
  for (const torch::jit::Node* node : block->nodes()) {
    if (const auto risk = risk_of(node)) {
      const std::string op = node->kind().toQualString();
      auto it =
          std::find_if(found.begin(), found.end(), [&](const RiskyOp& r) { return r.op == op; });
      if (it == found.end()) {
        found.push_back({op, *risk, 1});
      } else {
        ++it->count;
      }
    }
    for (const torch::jit::Block* inner : node->blocks()) scan_block(inner, found);
  }
}

}  // namespace

std::string op_risk_name(OpRisk risk) {
  switch (risk) {
    case OpRisk::ZeroDerivative:
      return "zero-derivative";
    case OpRisk::GraphCut:
      return "graph-cut";
    case OpRisk::Random:
      return "random";
    case OpRisk::Discontinuous:
      return "discontinuous";
  }
  return "?";
}

std::vector<RiskyOp> scan_forward_graph(const torch::jit::Module& module) {
  std::shared_ptr<torch::jit::Graph> graph;
  try {
    graph = module.get_method("forward").graph()->copy();
  } catch (const std::exception& e) {
    throw Error("the model has no scriptable forward graph to scan (" + short_message(e) + ")");
  }
  torch::jit::Inline(*graph);
  std::vector<RiskyOp> found;
  scan_block(graph->block(), found);
  return found;
}

}  // namespace advtk
