// The .npy reader on arbitrary bytes: it may refuse them (advtk::Error, exit 2 for a user), never
// crash, read out of bounds, overflow or throw anything else.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    advtk::parse_npy(std::vector<char>(data, data + size), "fuzz.npy");
  } catch (const advtk::Error&) {
  }
  return 0;
}
