// Tensors in PyTorch's own serialisation: what Python's torch.save writes and torch.load reads.
#pragma once

#include <map>
#include <string>

#include "core/torch.h"
#include "data/dataset.h"

namespace advtk {

// A dict {x|images|x_adv: [N,...], y|labels|targets: [N]} or a pair (images, labels) saved by
// Python's torch.save or by advtk. When both x_adv and x are present, x_adv is taken: an advtk
// example set evaluates as its adversarial images.
Dataset load_tensor_file(const std::string& path);

// Saves named tensors (moved to CPU) as a dict that Python's torch.load and load_tensor_file read.
void save_tensor_dict(const std::string& path, const std::map<std::string, torch::Tensor>& tensors);

// Loads a dict of tensors saved by save_tensor_dict or torch.save; non-tensor values are skipped.
std::map<std::string, torch::Tensor> load_tensor_dict(const std::string& path);

}  // namespace advtk
