// SHA-256 (FIPS 180-4) of a file, so that a report names exactly which model it audited, and of
// tensors, so that a resumed run knows its data.
#pragma once

#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

// Lower-case hex digest.
std::string sha256_hex(const std::vector<char>& bytes);
// Throws advtk::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
// Of the tensors' bytes, in order (a resumed run must see exactly the same data).
std::string tensor_sha256(const std::vector<torch::Tensor>& tensors);

}  // namespace advtk
