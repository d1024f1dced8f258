// The image-folder reader's decoder (stb_image, instrumented here: fuzz/stb_image.cpp) on
// arbitrary PNG/JPEG/BMP bytes, as stored and as grey and colour. Refusals are advtk::Error;
// anything else is a bug.
#include <stb_image.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/image_folder.h"
#include "data/jpeg_tables.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(data, data + size);
  // Headers declaring more than 65,536 pixels are decoded too, but rarely: large ones cost a
  // gigabyte and a second each, and the fuzzer would spend its time there. (stbi_info reads the
  // Huffman tables too, so advtk's check of them comes first, as in decode_image.)
  try {
    advtk::check_jpeg_huffman_tables(bytes, "fuzz.jpg");
  } catch (const advtk::Error&) {
    return 0;
  }
  int w = 0, h = 0, c = 0;
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c) &&
      static_cast<int64_t>(w) * h > (1 << 16) && size % 256 != 0)
    return 0;
  for (int channels : {0, 1, 3}) {
    try {
      advtk::decode_image(bytes, "fuzz.png", channels);
    } catch (const advtk::Error&) {
      return 0;  // refused as stored: refused as any
    }
  }
  return 0;
}
