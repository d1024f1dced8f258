// CIFAR-10 binary batches on arbitrary bytes, raw or gzipped. Refusals are advtk::Error;
// anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "data/cifar10_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    advtk::parse_cifar10_batch(
        advtk::gunzip_if_gzipped(std::vector<char>(data, data + size), "fuzz.bin"), "fuzz.bin");
  } catch (const advtk::Error&) {
  }
  return 0;
}
