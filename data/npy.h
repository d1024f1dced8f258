// NumPy .npy arrays (format versions 1-3, C order, little-endian) read into and written from
// tensors.
#pragma once

#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

// Supported element types: bool, u1, i1, i2, i4, i8, u2, f2, f4, f8. Fortran order and big-endian
// data are rejected with a message.
torch::Tensor read_npy(const std::string& path);
// The same from the file's bytes (gunzipped already); errors name `name`.
torch::Tensor parse_npy(const std::vector<char>& bytes, const std::string& name);

// Writes a CPU copy of `tensor` (any supported dtype) atomically.
void write_npy(const std::string& path, const torch::Tensor& tensor);

}  // namespace advtk
