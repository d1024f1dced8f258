// Tensors in PyTorch's own serialisation: what Python's torch.save writes and torch.load reads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"

namespace advtk {

// A dict {x|images|x_adv: [N,...], y|labels|targets: [N]} or a pair (images, labels) saved by
// Python's torch.save or by advtk. When both x_adv and x are present, x_adv is taken: an advtk
// example set evaluates as its adversarial images.
Dataset load_tensor_file(const std::string& path);

// Saves named tensors (moved to CPU) as a dict that Python's torch.load and load_tensor_file read.
void save_tensor_dict(const std::string& path, const std::map<std::string, torch::Tensor>& tensors);

// The object of a torch.save file's bytes: the archive is checked (core/zip_archive.h), its
// pickle read by LibTorch's unpickler from the checked records, and every tensor checked to lie
// inside the bytes its record holds. Errors name `path`.
torch::IValue parse_torch_save(const std::vector<char>& bytes, const std::string& path);

// Throws advtk::Error naming `name` when `t`'s offset, sizes and strides reach outside its
// storage (as a crafted file's can: LibTorch's readers take them as they are).
void check_inside_storage(const torch::Tensor& t, const std::string& name);

// Loads a dict of tensors saved by save_tensor_dict or torch.save; non-tensor values are skipped.
std::map<std::string, torch::Tensor> load_tensor_dict(const std::string& path);

}  // namespace advtk
