// The image-folder reader's decoder (stb_image, instrumented here: fuzz/stb_image.cpp) on
// arbitrary PNG/JPEG/BMP bytes, as stored and as grey and colour. Refusals are advtk::Error;
// anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/image_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(data, data + size);
  // Images up to 256 pixels a side, and one input in 256 up to advtk's own limit: large ones cost
  // a gigabyte and a second each, and the fuzzer would spend its time there.
  const int max_side = size % 256 == 0 ? advtk::kMaxImageSide : 256;
  for (int channels : {0, 1, 3}) {
    try {
      advtk::decode_image(bytes, "fuzz.png", channels, max_side);
    } catch (const advtk::Error&) {
      return 0;  // refused as stored: refused as any
    }
  }
  return 0;
}
