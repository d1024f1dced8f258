#include "defenses/straight_through.h"

#include <set>
#include <string>
#include <vector>

#include <torch/csrc/jit/passes/inliner.h>

#include "core/error.h"

namespace advtk {
namespace {

using torch::jit::Node;
using torch::jit::Value;

bool is_float_tensor_cast(const Node* node) {
  const std::string kind = node->kind().toQualString();
  if (kind != "aten::to" && kind != "aten::type_as") return false;
  const auto type = node->output()->type()->cast<c10::TensorType>();
  if (!type) return false;
  const auto dtype = type->scalarType();
  // Unknown dtypes are taken as float: the cast of a comparison to anything but an integer.
  return !dtype || c10::isFloatingType(*dtype);
}

bool is_comparison(const Node* node) {
  static const std::set<std::string> kComparisons = {"aten::gt", "aten::lt", "aten::ge",
                                                     "aten::le", "aten::eq", "aten::ne"};
  return kComparisons.count(node->kind().toQualString()) > 0 &&
         node->inputs()[0]->type()->isSubtypeOf(*c10::TensorType::get());
}

// Inserts x + (y - x).detach() after y's node and moves y's later uses to it.
void pass_straight_through(torch::jit::Graph& graph, Value* x, Value* y) {
  Node* after = y->node();
  torch::jit::WithInsertPoint guard(after->next());
  Value* one = graph.insertConstant(1);
  Node* sub = graph.create(c10::Symbol::fromQualString("aten::sub"), {y, x, one});
  graph.insertNode(sub);
  Node* detach = graph.create(c10::Symbol::fromQualString("aten::detach"), {sub->output()});
  graph.insertNode(detach);
  Node* add = graph.create(c10::Symbol::fromQualString("aten::add"), {x, detach->output(), one});
  graph.insertNode(add);
  sub->output()->setType(y->type());
  detach->output()->setType(y->type());
  add->output()->setType(y->type());
  y->replaceAllUsesAfterNodeWith(add, add->output());
  // The rewrite's own sub still reads y.
  sub->replaceInputWith(add->output(), y);
}

void rewrite_block(torch::jit::Graph& graph, torch::jit::Block* block, int64_t& count) {
  std::vector<std::pair<Value*, Value*>> pairs;  // (x, y)
  static const std::set<std::string> kSteps = {"aten::round", "aten::floor", "aten::ceil",
                                               "aten::trunc", "aten::sign"};
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* inner : node->blocks()) rewrite_block(graph, inner, count);
    const std::string kind = node->kind().toQualString();
    if (kSteps.count(kind) > 0 && node->inputs().size() >= 1 &&
        node->inputs()[0]->type()->isSubtypeOf(*c10::TensorType::get())) {
      pairs.emplace_back(node->inputs()[0], node->output());
    } else if (is_float_tensor_cast(node) && is_comparison(node->inputs()[0]->node())) {
      pairs.emplace_back(node->inputs()[0]->node()->inputs()[0], node->output());
    }
  }
  for (const auto& [x, y] : pairs) pass_straight_through(graph, x, y);
  count += static_cast<int64_t>(pairs.size());
}

}  // namespace

StraightThrough straight_through_copy(const torch::jit::Module& module) {
  StraightThrough out;
  try {
    out.module = module.clone();
    auto& forward = out.module.get_method("forward").function();
    auto& graph_function = dynamic_cast<torch::jit::GraphFunction&>(forward);
    std::shared_ptr<torch::jit::Graph> graph = graph_function.graph();
    torch::jit::Inline(*graph);
    rewrite_block(*graph, graph->block(), out.rewritten);
    graph->lint();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("cannot rewrite the model for BPDA (" + short_message(e) + ")");
  }
  return out;
}

}  // namespace advtk
