// A check of a JPEG's Huffman tables before stb_image decodes them. The stb_image that Debian 12
// ships (git 2022-09-08) copies a table's code counts without bounding their sum, so a DHT
// segment whose 16 counts add up to more than 256 writes past the decoder's tables (found by
// fuzz/image_fuzzer; later stb_image releases refuse it as "bad DHT header"). ITU T.81 B.2.4.2:
// a table holds at most 256 codes.
#pragma once

#include <string>
#include <vector>

namespace advtk {

// True when `bytes` start as stb_image takes a JPEG to: 0xFF fill bytes, then the start-of-image
// code 0xD8.
bool looks_like_jpeg(const std::vector<char>& bytes);

// Throws advtk::Error naming `path` when `bytes` are a JPEG with a Huffman table of more than
// 256 codes; does nothing for other bytes (stb_image judges the rest).
void check_jpeg_huffman_tables(const std::vector<char>& bytes, const std::string& path);

}  // namespace advtk
