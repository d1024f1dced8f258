// The ImageFolder convention: DIR/<class>/<image>.{png,jpg,jpeg,bmp}, classes in sorted order.
#pragma once

#include <string>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"

namespace advtk {

// All images must share one size; the channel count is the first image's (grey 1, colour 3;
// alpha is dropped).
Dataset load_image_folder(const std::string& dir);

// Decodes one image file into uint8 [H, W, C] with the requested channel count (0: as stored).
torch::Tensor read_image(const std::string& path, int channels = 0);

// The same from the file's bytes; errors name `path`. Images over `max_side` on a side are
// refused before decoding (their header alone would decide a multi-gigabyte allocation).
constexpr int kMaxImageSide = 16384;
torch::Tensor decode_image(const std::vector<char>& bytes, const std::string& path,
                           int channels = 0, int max_side = kMaxImageSide);

// Encodes a float [C,H,W] image in [0,1] (C = 1 or 3) as PNG bytes.
std::vector<char> encode_png(const torch::Tensor& image);

// Writes a float [C,H,W] image in [0,1] (C = 1 or 3) as PNG, atomically.
void write_png(const std::string& path, const torch::Tensor& image);

}  // namespace advtk
