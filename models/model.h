// A classifier as attacks and training see it: a TorchScript module on a device, with the
// per-channel normalisation and the output adapter folded in, so callers pass pixels in the
// model's input range and get logits [N, K] back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

// How images [N, C, H, W] are handed to the module: as they are, channels last [N, H, W, C], or
// flattened to [N, C·H·W] (a model that starts with a linear layer).
enum class InputLayout { Nchw, Nhwc, Flat };
std::string layout_name(InputLayout layout);

struct ModelOptions {
  torch::Device device = torch::kCPU;
  std::vector<double> mean;  // per channel (or one value); empty: no normalisation
  std::vector<double> std;   // same length as mean
  double input_lo = 0.0;     // the pixel range the model's inputs live in
  double input_hi = 1.0;
  std::optional<int64_t> output_index;    // picks the logits from a tuple/list output
  std::optional<std::string> output_key;  // picks the logits from a dict output
  // Unset: found by fit_input_layout (images first, then flat, then channels last); NCHW before.
  std::optional<InputLayout> layout;
  // A preprocessing module run on the input before the model (a defense's front end). With
  // `bpda`, its backward pass is taken as the identity (Athalye, Carlini & Wagner 2018): the
  // forward is unchanged, the gradient skips the preprocessing. It must keep the input's shape.
  std::optional<torch::jit::Module> preprocess;
  bool bpda = false;
};

// What the one-example probe found out.
struct ProbeResult {
  std::vector<int64_t> input_shape;  // [C, H, W] that was fed
  int64_t num_classes = 0;
  bool looks_like_probabilities = false;
};

class Model {
 public:
  // Loads a TorchScript file. Throws advtk::Error naming the file when it is missing or corrupt.
  static Model load(const std::string& path, const ModelOptions& options);
  // Wraps a module already in memory (the zoo, training).
  static Model wrap(torch::jit::Module module, const ModelOptions& options, std::string name);

  // x: [N, C, H, W] in [input_lo, input_hi] on any device; returns float logits [N, K] on device().
  torch::Tensor logits(const torch::Tensor& x) const;

  // What the TorchScript module's forward receives for x (front end, normalisation, precision and
  // layout applied): logits() is select_output(forward(module_input(x))).
  torch::Tensor module_input(const torch::Tensor& x) const;

  // Maps dataset pixels in [0, 1] to this model's input range.
  torch::Tensor from_unit_range(const torch::Tensor& x01) const;

  // Runs one example of shape `example` ([C,H,W]) and checks the output: it must be a float
  // tensor [1, K]; K must cover `num_classes` (when > 0). Wrong shapes become advtk::Error with
  // expected vs given. Warns when rows look like probabilities.
  ProbeResult probe(const std::vector<int64_t>& example, int64_t num_classes) const;
  // probe(), after choosing the input layout when options().layout is unset: the first of NCHW,
  // flat and NHWC on which the forward runs is kept for every later call (and logged when it is
  // not NCHW). When none runs, the NCHW failure is reported.
  ProbeResult fit_input_layout(const std::vector<int64_t>& example, int64_t num_classes);

  torch::Device device() const { return options_.device; }
  const ModelOptions& options() const { return options_; }
  const std::string& name() const { return name_; }
  torch::jit::Module& module() { return module_; }
  const torch::jit::Module& module() const { return module_; }

  // Parameters as a flat list (for optimizers); they share storage with the module.
  std::vector<torch::Tensor> parameters() const;

  // The input shape [C,H,W] recorded in a zoo model, if any.
  std::optional<std::vector<int64_t>> recorded_input_shape() const;

  void save(const std::string& path) const;

 private:
  Model(torch::jit::Module module, ModelOptions options, std::string name);
  torch::Tensor select_output(const torch::IValue& out) const;

  torch::jit::Module module_;
  ModelOptions options_;
  std::string name_;
  torch::Tensor mean_, inv_std_;                   // [1, C, 1, 1] on device, or undefined
  torch::ScalarType input_dtype_ = torch::kFloat;  // the parameters' floating type
};

// Sets train mode and enables parameter gradients for its lifetime; restores eval mode and frozen
// parameters when it ends, even by an exception.
class TrainingScope {
 public:
  explicit TrainingScope(Model& model);
  ~TrainingScope();
  TrainingScope(const TrainingScope&) = delete;
  TrainingScope& operator=(const TrainingScope&) = delete;

 private:
  Model& model_;
};

// The attacker's view inside training: eval mode (no dropout, batch-norm running statistics left
// alone) and frozen parameters for its lifetime, so crafting an adversarial batch neither changes
// nor accumulates into the parameters; restores the mode and trainability it found.
class AttackerScope {
 public:
  explicit AttackerScope(Model& model);
  ~AttackerScope();
  AttackerScope(const AttackerScope&) = delete;
  AttackerScope& operator=(const AttackerScope&) = delete;

 private:
  Model& model_;
  bool was_training_;
  bool was_trainable_;
};

}  // namespace advtk
