#include "models/model.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_io.h"
#include "core/zip_archive.h"
#include "data/tensor_file.h"

namespace advtk {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

void set_parameters_trainable(torch::jit::Module& module, bool trainable) {
  for (torch::Tensor p : module.parameters()) p.requires_grad_(trainable);
}

}  // namespace

std::string layout_name(InputLayout layout) {
  switch (layout) {
    case InputLayout::Nchw:
      return "nchw";
    case InputLayout::Nhwc:
      return "nhwc";
    case InputLayout::Flat:
      return "flat";
  }
  return "?";
}

Model::Model(torch::jit::Module module, ModelOptions options, std::string name)
    : module_(std::move(module)), options_(std::move(options)), name_(std::move(name)) {
  ADVTK_CHECK(options_.input_hi > options_.input_lo, "--input-range: expected lo < hi, got ",
              options_.input_lo, ",", options_.input_hi);
  ADVTK_CHECK(options_.mean.size() == options_.std.size(),
              "--mean and --std: expected the same number of values, got ", options_.mean.size(),
              " and ", options_.std.size());
  if (!options_.mean.empty()) {
    for (double s : options_.std) ADVTK_CHECK(s > 0, "--std: expected positive values, got ", s);
    const auto n = static_cast<int64_t>(options_.mean.size());
    const auto opts = torch::TensorOptions().dtype(torch::kFloat);
    mean_ = torch::tensor(options_.mean, opts.dtype(torch::kDouble))
                .to(torch::kFloat)
                .view({1, n, 1, 1});
    inv_std_ = (1.0 / torch::tensor(options_.std, opts.dtype(torch::kDouble)))
                   .to(torch::kFloat)
                   .view({1, n, 1, 1});
    mean_ = mean_.to(options_.device);
    inv_std_ = inv_std_.to(options_.device);
  }
  module_.to(options_.device);
  module_.eval();
  set_parameters_trainable(module_, false);
  // A model kept in double (or half) precision gets its inputs in that precision; gradients
  // flow back through the cast to the float32 pixels attacks work on.
  for (const torch::Tensor& p : module_.parameters()) {
    if (p.is_floating_point()) {
      input_dtype_ = p.scalar_type();
      break;
    }
  }
  ADVTK_CHECK(!options_.bpda || options_.preprocess, "--bpda: needs --preprocess PRE.pt");
  if (options_.preprocess) {
    options_.preprocess->to(options_.device);
    options_.preprocess->eval();
    set_parameters_trainable(*options_.preprocess, false);
  }
}

Model Model::load(const std::string& path, const ModelOptions& options) {
  std::error_code ec;
  ADVTK_CHECK(std::filesystem::is_regular_file(path, ec), path, ": no such model file");
  // The container first: LibTorch's zip reader trusts its offsets (core/zip_archive.h).
  try {
    read_torch_archive_file(path, ArchiveKind::Module);
  } catch (const Error& e) {
    std::string why = e.what();
    if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
    throw Error(path + ": not a loadable TorchScript model (" + why + ")");
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, options.device);
  } catch (const std::exception& e) {
    throw Error(path + ": not a loadable TorchScript model (" + short_message(e) +
                "); export it with torch.jit.script or torch.jit.trace and .save()");
  }
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    check_inside_storage(p.value, path + " (parameter " + p.name + ")");
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    check_inside_storage(b.value, path + " (buffer " + b.name + ")");
  return Model(std::move(module), options, path);
}

Model Model::wrap(torch::jit::Module module, const ModelOptions& options, std::string name) {
  return Model(std::move(module), options, std::move(name));
}

torch::Tensor Model::from_unit_range(const torch::Tensor& x01) const {
  if (options_.input_lo == 0.0 && options_.input_hi == 1.0) return x01;
  return x01 * (options_.input_hi - options_.input_lo) + options_.input_lo;
}

torch::Tensor Model::select_output(const torch::IValue& out) const {
  if (out.isTensor()) {
    ADVTK_CHECK(!options_.output_index && !options_.output_key, name_,
                ": --output-index/--output-key given, but the model returns a single tensor");
    return out.toTensor();
  }
  if (out.isTuple() || out.isList()) {
    const std::vector<torch::IValue> items =
        out.isTuple() ? out.toTupleRef().elements().vec() : out.toListRef().vec();
    ADVTK_CHECK(options_.output_index.has_value(), name_, ": the model returns ", items.size(),
                " outputs; choose the logits with --output-index");
    const int64_t i = *options_.output_index;
    ADVTK_CHECK(i >= 0 && i < static_cast<int64_t>(items.size()), "--output-index ", i,
                ": the model returns only ", items.size(), " outputs");
    ADVTK_CHECK(items[i].isTensor(), name_, ": output ", i, " is not a tensor");
    return items[i].toTensor();
  }
  if (out.isGenericDict()) {
    const auto dict = out.toGenericDict();
    std::string keys;
    for (const auto& entry : dict) keys += (keys.empty() ? "" : ", ") + entry.key().toStringRef();
    ADVTK_CHECK(options_.output_key.has_value(), name_, ": the model returns a dict (keys: ", keys,
                "); choose the logits with --output-key");
    ADVTK_CHECK(dict.contains(*options_.output_key), "--output-key ", *options_.output_key,
                ": not among the model's outputs (", keys, ")");
    const torch::IValue v = dict.at(*options_.output_key);
    ADVTK_CHECK(v.isTensor(), name_, ": output '", *options_.output_key, "' is not a tensor");
    return v.toTensor();
  }
  throw Error(name_ + ": the model returns " + out.tagKind() +
              ", expected a tensor of logits, a tuple/list or a dict");
}

torch::Tensor Model::module_input(const torch::Tensor& x) const {
  torch::Tensor input = x.to(options_.device);
  if (options_.preprocess) {
    torch::Tensor pre;
    try {
      auto& front = const_cast<torch::jit::Module&>(*options_.preprocess);
      pre = front.forward({input}).toTensor();
    } catch (const std::exception& e) {
      throw Error("--preprocess: the module failed on an input of shape " +
                  shape_text(input.sizes().vec()) + " (" + short_message(e) + ")");
    }
    ADVTK_CHECK(pre.sizes() == input.sizes(), "--preprocess: the module must keep the input's ",
                "shape ", shape_text(input.sizes().vec()), ", it returns ",
                shape_text(pre.sizes().vec()));
    pre = pre.to(input.scalar_type());
    // BPDA: the value of pre, the gradient of the identity.
    input = options_.bpda ? input + (pre - input).detach() : pre;
  }
  if (mean_.defined()) input = (input - mean_) * inv_std_;
  if (input.scalar_type() != input_dtype_) input = input.to(input_dtype_);
  switch (options_.layout.value_or(InputLayout::Nchw)) {
    case InputLayout::Nchw:
      break;
    case InputLayout::Nhwc:
      input = input.permute({0, 2, 3, 1});
      break;
    case InputLayout::Flat:
      input = input.flatten(1);
      break;
  }
  return input;
}

torch::Tensor Model::logits(const torch::Tensor& x) const {
  auto& module = const_cast<torch::jit::Module&>(module_);
  torch::Tensor out = select_output(module.forward({module_input(x)}));
  // Attacks keep float32 bookkeeping: half or double logits are brought to float.
  return out.is_floating_point() && out.scalar_type() != torch::kFloat ? out.to(torch::kFloat)
                                                                       : out;
}

ProbeResult Model::probe(const std::vector<int64_t>& example, int64_t num_classes) const {
  ADVTK_CHECK(example.size() == 3, name_, ": expected an input shape [C,H,W], got ",
              shape_text(example));
  if (mean_.defined()) {
    ADVTK_CHECK(mean_.size(1) == 1 || mean_.size(1) == example[0], "--mean/--std: ", mean_.size(1),
                " values given but the inputs have ", example[0], " channels");
  }
  std::vector<int64_t> batch_shape = {2};
  batch_shape.insert(batch_shape.end(), example.begin(), example.end());
  auto gen = at::detail::createCPUGenerator(12345);
  const torch::Tensor x = from_unit_range(torch::rand(batch_shape, gen));
  torch::Tensor out;
  try {
    torch::NoGradGuard no_grad;
    out = logits(x);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(name_ + ": forward failed on an input of shape " + shape_text(batch_shape) +
                " (the data's shape" +
                (options_.layout ? ", " + layout_name(*options_.layout) + " layout" : "") +
                "); the model expects another input shape? (" + short_message(e) + ")");
  }
  ADVTK_CHECK(out.is_floating_point(), name_, ": expected float logits, the model returns ",
              out.scalar_type());
  ADVTK_CHECK(out.dim() == 2 && out.size(0) == 2, name_, ": expected logits of shape [N, K] (",
              "got ", out.sizes(), " for a batch of 2)");
  ProbeResult result;
  result.input_shape = example;
  result.num_classes = out.size(1);
  ADVTK_CHECK(num_classes <= 0 || result.num_classes >= num_classes, name_, ": the model has ",
              result.num_classes, " outputs but the data has ", num_classes, " classes");
  const torch::Tensor row_sums = out.sum(1);
  result.looks_like_probabilities = out.min().item<double>() >= 0 &&
                                    out.max().item<double>() <= 1 &&
                                    (row_sums - 1).abs().max().item<double>() < 1e-3;
  if (result.looks_like_probabilities) {
    spdlog::warn(
        "{}: outputs look like probabilities (rows in [0,1] summing to 1); gradient "
        "attacks on probabilities are weak, export the logits instead",
        name_);
  }
  return result;
}

ProbeResult Model::fit_input_layout(const std::vector<int64_t>& example, int64_t num_classes) {
  if (options_.layout || example.size() != 3) return probe(example, num_classes);
  const torch::Tensor x =
      from_unit_range(torch::full({2, example[0], example[1], example[2]}, 0.5));
  for (const InputLayout layout : {InputLayout::Nchw, InputLayout::Flat, InputLayout::Nhwc}) {
    options_.layout = layout;
    try {
      torch::NoGradGuard no_grad;
      logits(x);
    } catch (const std::exception&) {
      continue;
    }
    if (layout != InputLayout::Nchw) {
      spdlog::info(
          "{}: the model takes {} inputs; images are handed to it as such", name_,
          layout == InputLayout::Flat ? "flattened [N, C*H*W]" : "channels-last [N,H,W,C]");
    }
    return probe(example, num_classes);
  }
  options_.layout = InputLayout::Nchw;
  try {
    return probe(example, num_classes);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; flattened and channels-last inputs fail too");
  }
}

std::vector<torch::Tensor> Model::parameters() const {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& p : module_.parameters()) out.push_back(p);
  return out;
}

std::optional<std::vector<int64_t>> Model::recorded_input_shape() const {
  if (!module_.hasattr("advtk_input_shape")) return std::nullopt;
  return module_.attr("advtk_input_shape").toIntVector();
}

void Model::save(const std::string& path) const {
  // Saved from the CPU so that the file loads anywhere without a map_location.
  auto& module = const_cast<torch::jit::Module&>(module_);
  const bool moved = options_.device.type() != torch::kCPU;
  if (moved) module.to(torch::kCPU);
  try {
    write_atomically(path, [&](const std::string& tmp) { module.save(tmp); });
  } catch (...) {
    if (moved) module.to(options_.device);
    throw;
  }
  if (moved) module.to(options_.device);
}

TrainingScope::TrainingScope(Model& model) : model_(model) {
  model_.module().train(true);
  set_parameters_trainable(model_.module(), true);
}

TrainingScope::~TrainingScope() {
  model_.module().train(false);
  set_parameters_trainable(model_.module(), false);
}

AttackerScope::AttackerScope(Model& model)
    : model_(model), was_training_(model.module().is_training()), was_trainable_(false) {
  for (const torch::Tensor& p : model_.module().parameters()) {
    was_trainable_ = p.requires_grad();
    break;
  }
  model_.module().train(false);
  set_parameters_trainable(model_.module(), false);
}

AttackerScope::~AttackerScope() {
  model_.module().train(was_training_);
  set_parameters_trainable(model_.module(), was_trainable_);
}

}  // namespace advtk
