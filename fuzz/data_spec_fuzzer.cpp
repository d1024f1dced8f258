// The --data spec parser on arbitrary text, for both splits. Refusals are advtk::Error; anything
// else is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "data/data_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec(reinterpret_cast<const char*>(data), size);
  for (const char* split : {"train", "test"}) {
    try {
      advtk::parse_data_source(spec, split);
    } catch (const advtk::Error&) {
    }
  }
  return 0;
}
