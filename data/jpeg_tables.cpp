#include "data/jpeg_tables.h"

#include "core/error.h"

namespace advtk {

namespace {

// Where the start-of-image marker's code (0xD8) is, after stb_image's rule: any number of 0xFF
// fill bytes, then 0xD8; 0 when the bytes do not start so.
size_t start_of_image(const std::vector<char>& bytes) {
  size_t pos = 0;
  while (pos < bytes.size() && static_cast<unsigned char>(bytes[pos]) == 0xFF) ++pos;
  return pos > 0 && pos < bytes.size() && static_cast<unsigned char>(bytes[pos]) == 0xD8 ? pos : 0;
}

}  // namespace

bool looks_like_jpeg(const std::vector<char>& bytes) { return start_of_image(bytes) > 0; }

void check_jpeg_huffman_tables(const std::vector<char>& bytes, const std::string& path) {
  const size_t size = bytes.size();
  // A byte of the file, 0 past its end (as stb_image reads it).
  auto at = [&](size_t i) { return i < size ? static_cast<unsigned char>(bytes[i]) : 0u; };
  size_t pos = start_of_image(bytes);
  if (pos == 0) return;
  ++pos;
  // Markers are 0xFF and a code; entropy-coded data between them is skipped byte by byte (its
  // 0xFF bytes are followed by 0x00 or a restart code).
  while (pos + 1 < size) {
    if (at(pos) != 0xFF) {
      ++pos;
      continue;
    }
    const unsigned marker = at(pos + 1);
    if (marker == 0xFF) {
      ++pos;  // fill byte
      continue;
    }
    if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
      pos += 2;  // no length follows
      continue;
    }
    if (marker == 0xD9) return;  // end of image
    const size_t length = at(pos + 2) << 8 | at(pos + 3);
    if (length < 2) return;
    if (marker == 0xC4) {
      // Tables follow each other while the segment has bytes left: class/id, 16 counts, values.
      const size_t end = pos + 2 + length;
      for (size_t table = pos + 4; table < end;) {
        size_t codes = 0;
        for (size_t i = 0; i < 16; ++i) codes += at(table + 1 + i);
        ADVTK_CHECK(codes <= 256, path, ": corrupt JPEG (a Huffman table of ", codes,
                    " codes; at most 256)");
        table += 17 + codes;
      }
    }
    pos += 2 + length;
  }
}

}  // namespace advtk
