// The IDX reader on arbitrary bytes, raw or gzipped (Fashion-MNIST ships .gz): as images (rank 3)
// and as labels (rank 1). Refusals are advtk::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "data/idx_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const std::vector<char> bytes =
        advtk::gunzip_if_gzipped(std::vector<char>(data, data + size), "fuzz.idx");
    for (int64_t rank : {3, 1}) {
      try {
        advtk::parse_idx(bytes, "fuzz.idx", rank);
      } catch (const advtk::Error&) {
      }
    }
  } catch (const advtk::Error&) {
  }
  return 0;
}
