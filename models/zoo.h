// The built-in architectures, written as TorchScript source and built from C++ (no Python needed).
// Saved zoo models load in Python's torch.jit.load and in advtk like any user model.
//
//   mlp     flatten - fc256 - relu - fc256 - relu - fc K
//   cnn     conv32 - relu - pool2 - conv64 - relu - pool2 - fc128 - relu - fc K   (3×3, padding 1)
//   lenet   conv6 (5×5, pad 2) - relu - pool2 - conv16 (5×5) - relu - pool2 - fc120 - fc84 - fc K
//   resnet  conv16-bn-relu, three stages of basic blocks (16, 32, 64 channels, strides 1, 2, 2),
//           global average pooling, fc K — any input size
//   dlg-lenet  the network of Zhu, Liu & Han 2019 (Deep Leakage from Gradients): conv12 (5×5,
//           pad 2, stride 2) - sigmoid - conv12 (stride 2) - sigmoid - conv12 (stride 1) -
//           sigmoid - fc K, every weight and bias from U(-0.5, 0.5) as in the paper — smooth
//           everywhere, the case gradient inversion was first shown on
//
// Initialisation follows PyTorch's layer defaults (uniform ±1/sqrt(fan_in) for weights and biases),
// except batch-norm (weight 1, bias 0) and He-normal (fan_out) convolutions in the ResNet, as in
// torchvision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

enum class Architecture { Mlp, Cnn, LeNet, ResNet, DlgLeNet };

struct ZooOptions {
  std::vector<int64_t> input_shape = {1, 28, 28};  // [C, H, W]
  int64_t num_classes = 10;
  int64_t resnet_blocks_per_stage = 1;
  uint64_t seed = 0;
};

std::vector<std::string> architecture_names();
Architecture parse_architecture(const std::string& name);  // throws advtk::Error for unknown names
std::string architecture_name(Architecture arch);

// A freshly initialised module, in eval mode, with attributes advtk_arch and advtk_input_shape.
torch::jit::Module build_zoo_model(Architecture arch, const ZooOptions& options);

}  // namespace advtk
