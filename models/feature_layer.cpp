#include "models/feature_layer.h"

#include <optional>
#include <vector>

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include "core/error.h"

namespace advtk {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// The submodule path of a module value: the chain of prim::GetAttr from the graph's self.
std::optional<std::string> module_path(Value* v, const Value* self) {
  std::vector<std::string> parts;
  while (v != self) {
    const Node* n = v->node();
    if (n->kind() != c10::prim::GetAttr) return std::nullopt;
    parts.push_back(n->s(c10::attr::name));
    v = n->input(0);
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += (path.empty() ? "" : ".") + *it;
  return path;
}

// Inlines the calls of the modules on the way to `path` until its own forward call is a node of
// the top-level block; returns that call's output, or null when the graph never calls it.
Value* submodule_output(Graph& graph, const std::string& path) {
  const Value* self = graph.inputs()[0];
  for (bool inlined = true; inlined;) {
    inlined = false;
    for (Node* n : graph.block()->nodes()) {
      if (n->kind() != c10::prim::CallMethod || n->s(c10::attr::name) != "forward") continue;
      const std::optional<std::string> p = module_path(n->input(0), self);
      if (!p) continue;
      if (*p == path) return n->outputs().size() == 1 ? n->output() : nullptr;
      if (p->empty() || path.rfind(*p + ".", 0) != 0) continue;
      const auto cls = n->input(0)->type()->expect<c10::ClassType>();
      torch::jit::inlineCallTo(n, &torch::jit::toGraphFunction(cls->getMethod("forward")));
      inlined = true;
      break;
    }
  }
  return nullptr;
}

// The input of the last linear layer of the (inlined) top-level block, or null.
Value* last_linear_input(Graph& graph, std::string& op) {
  Value* found = nullptr;
  for (Node* n : graph.block()->nodes()) {
    const std::string kind = n->kind().toQualString();
    if (kind == "aten::linear") {
      found = n->input(0);
    } else if (kind == "aten::addmm") {
      found = n->input(1);  // addmm(bias, x, W^T)
    } else {
      continue;
    }
    op = kind;
  }
  return found;
}

std::string submodule_names(const torch::jit::Module& module) {
  std::string names;
  int shown = 0;
  for (const auto& m : module.named_modules()) {
    if (m.name.empty()) continue;
    if (++shown > 12) return names + ", ...";
    names += (names.empty() ? "" : ", ") + m.name;
  }
  return names.empty() ? "none" : names;
}

}  // namespace

FeatureLayer::FeatureLayer(Model model, std::shared_ptr<torch::jit::GraphFunction> function,
                           std::string description)
    : model_(std::move(model)),
      function_(std::move(function)),
      description_(std::move(description)) {}

FeatureLayer FeatureLayer::find(const Model& model, const std::string& layer) {
  std::shared_ptr<Graph> graph;
  try {
    graph = model.module().get_method("forward").graph()->copy();
  } catch (const std::exception& e) {
    throw Error(model.name() + ": no TorchScript forward graph to read features from (" +
                short_message(e) + ")");
  }
  Value* features = nullptr;
  std::string description;
  if (layer.empty()) {
    torch::jit::Inline(*graph);
    std::string op;
    features = last_linear_input(*graph, op);
    ADVTK_CHECK(features != nullptr, model.name(),
                ": no linear layer (aten::linear or aten::addmm) in the forward graph to read "
                "features from; name a layer with --feature-layer (submodules: ",
                submodule_names(model.module()), ")");
    description = "input of the last linear layer (" + op + ")";
  } else {
    features = submodule_output(*graph, layer);
    ADVTK_CHECK(features != nullptr, "--feature-layer ", layer,
                ": the model's forward calls no submodule of that name with one output "
                "(submodules: ",
                submodule_names(model.module()), ")");
    ADVTK_CHECK(features->type()->isSubtypeOf(*c10::TensorType::get()), "--feature-layer ", layer,
                ": its output is ", features->type()->str(), ", not a tensor");
    description = "output of submodule " + layer;
  }
  while (!graph->outputs().empty()) graph->eraseOutput(0);
  graph->registerOutput(features);
  torch::jit::Inline(*graph);
  torch::jit::EliminateDeadCode(graph);
  auto function = std::make_shared<torch::jit::GraphFunction>(c10::QualifiedName("advtk.features"),
                                                              graph, nullptr);
  return FeatureLayer(model, std::move(function), std::move(description));
}

torch::Tensor FeatureLayer::operator()(const torch::Tensor& x) const {
  torch::IValue out;
  try {
    out = (*function_)({model_.module()._ivalue(), model_.module_input(x)});
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(model_.name() + ": reading the " + description_ + " failed (" + short_message(e) +
                ")");
  }
  torch::Tensor f = out.toTensor();
  if (f.dim() != 2) f = f.flatten(1);
  return f.is_floating_point() && f.scalar_type() != torch::kFloat ? f.to(torch::kFloat) : f;
}

torch::Tensor FeatureLayer::extract(const torch::Tensor& images01, int64_t batch_size) const {
  ADVTK_CHECK(batch_size >= 1, "feature extraction: expected a batch size of at least 1");
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < images01.size(0); i += batch_size) {
    const torch::Tensor x = images01.narrow(0, i, std::min(batch_size, images01.size(0) - i));
    parts.push_back((*this)(model_.from_unit_range(x)).cpu());
  }
  return parts.empty() ? torch::empty({0, 0}) : torch::cat(parts);
}

}  // namespace advtk
