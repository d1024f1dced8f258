// SHA-256 (FIPS 180-4) of a file, so that a report names exactly which model it audited, and of
// tensors, so that a resumed run knows its data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

// The digest of bytes given piece by piece, so that nothing needs to be in memory whole.
class Sha256 {
 public:
  Sha256();
  Sha256& update(const void* data, size_t size);
  std::string hex() const;  // of everything given so far

 private:
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> block_{};
  size_t buffered_ = 0;  // bytes of block_ waiting for the rest of their block
  uint64_t length_ = 0;
};

// Lower-case hex digest.
std::string sha256_hex(const std::vector<char>& bytes);
// Read a block at a time. Throws advtk::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
// Of the tensors' bytes, in order (a resumed run must see exactly the same data).
std::string tensor_sha256(const std::vector<torch::Tensor>& tensors);

}  // namespace advtk
