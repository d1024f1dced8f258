#include "data/image_folder.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "core/error.h"
#include "core/file_io.h"
#include "data/jpeg_tables.h"

namespace advtk {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

}  // namespace

torch::Tensor read_image(const std::string& path, int channels) {
  return decode_image(read_file_bytes(path, /*gunzip=*/false), path, channels);
}

torch::Tensor decode_image(const std::vector<char>& bytes, const std::string& path, int channels,
                           int max_side) {
  ADVTK_CHECK(bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), path,
              ": an image file over 2 GiB");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  // stb_image picks its decoder by content (GIF, PSD, PNM, TGA, HDR, PIC too, and its PNM one
  // overflows an int on a long header number): only the three formats advtk reads reach it.
  const bool png = bytes.size() >= 4 && std::memcmp(bytes.data(), "\x89PNG", 4) == 0;
  const bool bmp = bytes.size() >= 2 && bytes[0] == 'B' && bytes[1] == 'M';
  ADVTK_CHECK(png || bmp || looks_like_jpeg(bytes), path,
              ": not a PNG, JPEG or BMP image (the formats advtk reads)");
  check_jpeg_huffman_tables(bytes, path);
  int w = 0, h = 0, stored = 0;
  ADVTK_CHECK(stbi_info_from_memory(data, size, &w, &h, &stored), path, ": cannot decode image (",
              stbi_failure_reason(), ")");
  // The header's size decides the allocation: refuse what no dataset image needs.
  ADVTK_CHECK(w <= max_side && h <= max_side, path, ": ", w, "x", h,
              " pixels is larger than advtk reads (", max_side, " on a side)");
  const std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      stbi_load_from_memory(data, size, &w, &h, &stored, channels), stbi_image_free);
  ADVTK_CHECK(pixels != nullptr, path, ": cannot decode image (", stbi_failure_reason(), ")");
  const int c = channels == 0 ? stored : channels;
  ADVTK_CHECK(w > 0 && h > 0 && c > 0, path, ": an image of ", w, "x", h, " pixels and ", c,
              " channels");
  torch::Tensor out = torch::empty({h, w, c}, torch::kByte);
  std::memcpy(out.data_ptr(), pixels.get(), static_cast<size_t>(h) * w * c);
  return out;
}

Dataset load_image_folder(const std::string& dir) {
  ADVTK_CHECK(fs::is_directory(dir), dir, ": not a directory (expected one sub-folder per class)");
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) class_dirs.push_back(entry.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  ADVTK_CHECK(!class_dirs.empty(), dir, ": no class sub-folders found");

  Dataset d;
  d.source = dir;
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  int channels = 0;
  std::string first_path;
  for (size_t label = 0; label < class_dirs.size(); ++label) {
    d.class_names.push_back(class_dirs[label].filename().string());
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(class_dirs[label]))
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      if (channels == 0) {
        torch::Tensor first = read_image(file.string());
        channels = first.size(2) >= 3 ? 3 : 1;
        first_path = file.string();
      }
      torch::Tensor img = read_image(file.string(), channels);
      if (!images.empty()) {
        ADVTK_CHECK(img.sizes() == images.front().sizes(), file.string(), ": image size ",
                    img.size(1), "x", img.size(0), " differs from ", images.front().size(1), "x",
                    images.front().size(0), " of ", first_path,
                    " (all images must share one size)");
      }
      images.push_back(img);
      labels.push_back(static_cast<int64_t>(label));
    }
  }
  ADVTK_CHECK(!images.empty(), dir, ": no PNG/JPEG/BMP images in the class sub-folders");
  d.images = images_from_bytes(torch::stack(images), /*channels_last=*/true);
  d.labels = torch::tensor(labels, torch::kLong);
  return d;
}

std::vector<char> encode_png(const torch::Tensor& image) {
  ADVTK_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3),
              "PNG: expected a [1|3, H, W] image, got ", image.sizes());
  const torch::Tensor hwc = image.detach()
                                .to(torch::kCPU, torch::kFloat)
                                .clamp(0, 1)
                                .mul(255)
                                .round()
                                .to(torch::kByte)
                                .permute({1, 2, 0})
                                .contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)),
            c = static_cast<int>(hwc.size(2));
  std::vector<char> bytes;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<char>*>(context);
    out->insert(out->end(), static_cast<char*>(data), static_cast<char*>(data) + size);
  };
  ADVTK_CHECK(stbi_write_png_to_func(append, &bytes, w, h, c, hwc.data_ptr<uint8_t>(), w * c) != 0,
              "PNG encoding failed");
  return bytes;
}

void write_png(const std::string& path, const torch::Tensor& image) {
  write_file_atomic(path, encode_png(image));
}

}  // namespace advtk
