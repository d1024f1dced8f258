#include "diagnostics/straight_through.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/remove_mutation.h>

#include "core/error.h"
#include "diagnostics/graph_scan.h"

namespace advtk {
namespace {

using torch::jit::Node;
using torch::jit::Value;

std::string kind_of(const Node* node) { return node->kind().toQualString(); }

bool is_tensor(const Value* v) { return v->type()->isSubtypeOf(*c10::TensorType::get()); }

bool is_comparison(const Node* node) {
  static const std::set<std::string> kComparisons = {"aten::gt", "aten::lt", "aten::ge",
                                                     "aten::le", "aten::eq", "aten::ne"};
  return kComparisons.count(kind_of(node)) > 0 && is_tensor(node->inputs()[0]) &&
         is_tensor(node->output());
}

// +1 for x > t and x >= t, −1 for x < t and x <= t, 0 for == and != (no monotone surrogate).
int comparison_slope(const Node* node) {
  const std::string k = kind_of(node);
  if (k == "aten::gt" || k == "aten::ge") return 1;
  if (k == "aten::lt" || k == "aten::le") return -1;
  return 0;
}

std::optional<double> constant_number(const Value* v) {
  const auto iv = torch::jit::toIValue(v);
  if (!iv) return std::nullopt;
  if (iv->isDouble()) return iv->toDouble();
  if (iv->isInt()) return static_cast<double>(iv->toInt());
  if (iv->isBool()) return iv->toBool() ? 1.0 : 0.0;
  return std::nullopt;
}

// Uses that read a value only as a number (arithmetic, casts): a float surrogate can stand in.
bool only_numeric_uses(const Value* v) {
  static const std::set<std::string> kNumeric = {
      "aten::to",  "aten::type_as", "aten::div", "aten::mul",        "aten::add",
      "aten::sub", "aten::rsub",    "aten::neg", "aten::true_divide"};
  for (const auto& use : v->uses())
    if (kNumeric.count(kind_of(use.user)) == 0) return false;
  return !v->uses().empty();
}

// What replaces y = f(x) in the backward pass.
enum class Surrogate { Identity, Negated, DividedBy, Constant };

// y = f(x) with x = reader->inputs()[0]: read when the site is rewritten, so that a construct
// fed by an earlier rewritten one (round, then an integer cast) sees its surrogate.
struct Site {
  Node* reader;
  Value* y;
  Surrogate surrogate;
};

// Inserts s(x) + (float(y) − s(x)).detach() after y's node and moves y's later uses to it.
void rewrite(torch::jit::Graph& graph, const Site& site) {
  Value* x = site.reader->inputs()[0];
  Value* y = site.y;
  torch::jit::WithInsertPoint guard(y->node()->next());
  const auto op = [&](const char* name, std::vector<Value*> inputs) {
    Node* n = graph.create(c10::Symbol::fromQualString(name), inputs);
    graph.insertNode(n);
    n->output()->setType(x->type());
    return n->output();
  };
  Value* out = nullptr;
  if (site.surrogate == Surrogate::Constant) {
    out = op("aten::detach", {y});
  } else {
    Value* one = graph.insertConstant(1);
    Value* s = x;
    if (site.surrogate == Surrogate::Negated) s = op("aten::neg", {x});
    if (site.surrogate == Surrogate::DividedBy) s = op("aten::div", {x, site.reader->inputs()[1]});
    Value* yf = is_tensor(y) && y->type()->expect<c10::TensorType>()->scalarType() &&
                        c10::isFloatingType(*y->type()->expect<c10::TensorType>()->scalarType())
                    ? y
                    : op("aten::type_as", {y, x});
    Value* diff = op("aten::sub", {yf, s, one});
    Value* frozen = op("aten::detach", {diff});
    out = op("aten::add", {s, frozen, one});
  }
  // Later readers of y read the rewrite; the rewrite's own nodes, before it, still read y.
  y->replaceAllUsesAfterNodeWith(out->node(), out);
}

void collect(torch::jit::Block* block, std::vector<Site>& sites, std::vector<Node*>& no_grad,
             std::vector<std::string>& blocked) {
  static const std::set<std::string> kSteps = {"aten::round",     "aten::floor", "aten::ceil",
                                               "aten::trunc",     "aten::sign",  "aten::sgn",
                                               "aten::heaviside", "aten::detach"};
  static const std::set<std::string> kPeriodic = {"aten::remainder", "aten::fmod", "aten::frac"};
  static const std::set<std::string> kInPlace = {
      "aten::round_", "aten::floor_",        "aten::ceil_",      "aten::trunc_",
      "aten::sign_",  "aten::sgn_",          "aten::frac_",      "aten::remainder_",
      "aten::fmod_",  "aten::floor_divide_", "aten::heaviside_", "aten::detach_"};
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* inner : node->blocks()) collect(inner, sites, no_grad, blocked);
    const std::string k = kind_of(node);
    if (enters_no_grad(node)) {
      no_grad.push_back(node);
      continue;
    }
    if (node->inputs().empty() || node->outputs().size() != 1) continue;
    Value* x = node->inputs()[0];
    Value* y = node->output();
    if (!is_tensor(x)) continue;
    if (kSteps.count(k) > 0) {
      sites.push_back({node, y, Surrogate::Identity});
    } else if (kPeriodic.count(k) > 0) {
      sites.push_back({node, y, Surrogate::Constant});
    } else if (k == "aten::floor_divide" || (k == "aten::div" && node->inputs().size() == 3 &&
                                             torch::jit::toIValue(node->inputs()[2]).has_value() &&
                                             torch::jit::toIValue(node->inputs()[2])->isString())) {
      sites.push_back({node, y, Surrogate::DividedBy});
    } else if (kInPlace.count(k) > 0) {
      blocked.push_back(k + " (in place on a value that may be aliased)");
    } else if (is_comparison(node) || k == "aten::bucketize" ||
               (k == "aten::to" && cast_is_to_integer(node))) {
      // A non-float result: rewritten where it is only read as a number.
      bool in_where = false;
      for (const auto& use : y->uses()) in_where = in_where || kind_of(use.user) == "aten::where";
      if (in_where) continue;  // the where below gets the surrogate
      const int slope = is_comparison(node) ? comparison_slope(node) : 1;
      if (slope == 0) {
        blocked.push_back(k + " (no monotone surrogate)");
      } else if (!only_numeric_uses(y)) {
        blocked.push_back(k + " (its result is used as an index or a mask)");
      } else {
        sites.push_back({node, y, slope > 0 ? Surrogate::Identity : Surrogate::Negated});
      }
    } else if (k == "aten::where" && node->inputs().size() == 3 && is_comparison(x->node())) {
      // where(cmp(x, t), a, b): a step from b to a as cmp turns true.
      const std::optional<double> a = constant_number(node->inputs()[1]);
      const std::optional<double> b = constant_number(node->inputs()[2]);
      if (!a || !b) continue;  // the gradient flows through the branches
      const int slope = comparison_slope(x->node()) * (*a > *b ? 1 : *a < *b ? -1 : 0);
      if (slope == 0) {
        blocked.push_back("aten::where on " + kind_of(x->node()) + " (no monotone surrogate)");
      } else {
        sites.push_back({x->node(), y, slope > 0 ? Surrogate::Identity : Surrogate::Negated});
      }
    }
  }
}

// Drops a no_grad with-block's Enter and Exit, so its body is differentiated as written (its own
// steps get their surrogates like any other). False when the Exit is not found in the block or
// its result is read.
bool remove_no_grad(Node* enter) {
  Value* guard = enter->inputs()[0];
  for (Node* n = enter->next(); n != enter->owningBlock()->return_node(); n = n->next()) {
    if (kind_of(n) != "prim::Exit" || n->inputs().empty() || n->inputs()[0] != guard) continue;
    if (n->hasUses()) return false;
    n->destroy();
    enter->destroy();
    return true;
  }
  return false;
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
    // round_(t) → round(t) where no alias can see the difference, so the step has an input.
    torch::jit::RemoveTensorMutation(graph);
    std::vector<Site> sites;
    std::vector<Node*> no_grad;
    collect(graph->block(), sites, no_grad, out.blocked);
    for (const Site& s : sites) rewrite(*graph, s);
    out.rewritten = static_cast<int64_t>(sites.size());
    for (Node* enter : no_grad) {
      if (remove_no_grad(enter)) {
        ++out.rewritten;
      } else {
        out.blocked.push_back("a torch.no_grad() block whose exit is read or not found");
      }
    }
    graph->lint();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("cannot rewrite the model for BPDA (" + short_message(e) + ")");
  }
  return out;
}

}  // namespace advtk
