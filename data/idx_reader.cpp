#include "data/idx_reader.h"

#include <cstring>

#include "core/error.h"
#include "core/file_io.h"

namespace advtk {
namespace {

uint32_t big_endian_u32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

torch::Tensor read_idx_bytes(const std::string& path, int64_t expected_rank) {
  return parse_idx(read_file_bytes(path), path, expected_rank);
}

torch::Tensor parse_idx(const std::vector<char>& bytes, const std::string& path,
                        int64_t expected_rank) {
  ADVTK_CHECK(bytes.size() >= 4, path, ": too short for an IDX header (", bytes.size(), " bytes)");
  const auto* header = reinterpret_cast<const unsigned char*>(bytes.data());
  ADVTK_CHECK(header[0] == 0 && header[1] == 0, path,
              ": not an IDX file (bad magic number; expected 0x0000 in the first two bytes)");
  ADVTK_CHECK(header[2] == 0x08, path, ": IDX element type 0x", std::hex, int{header[2]},
              " is not supported (expected unsigned bytes, 0x08)");
  const int64_t rank = header[3];
  ADVTK_CHECK(rank == expected_rank, path, ": expected an IDX file of rank ", expected_rank,
              " (magic 0x0000080", expected_rank, "), got rank ", rank);
  const size_t header_size = 4 + 4 * static_cast<size_t>(rank);
  ADVTK_CHECK(bytes.size() >= header_size, path, ": truncated IDX header");
  std::vector<int64_t> dims;
  const size_t payload = bytes.size() - header_size;
  size_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t dim = big_endian_u32(bytes.data() + 4 + 4 * i);
    ADVTK_CHECK(dim > 0, path, ": dimension ", i, " is zero");
    dims.push_back(dim);
    // Checked as it grows: four 32-bit dimensions overflow a 64-bit count.
    ADVTK_CHECK(count <= (size_t{1} << 62) / static_cast<size_t>(dim), path, ": header announces ",
                torch::IntArrayRef(dims), "..., more data than any file");
    count *= static_cast<size_t>(dim);
  }
  ADVTK_CHECK(payload == count, path, ": header announces ", count, " bytes of data (",
              torch::IntArrayRef(dims), "), file holds ", payload,
              payload < count ? " (truncated)" : " (trailing bytes)");
  torch::Tensor out = torch::empty(dims, torch::kByte);
  std::memcpy(out.data_ptr(), bytes.data() + header_size, payload);
  return out;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path) {
  const torch::Tensor images = read_idx_bytes(images_path, 3);
  const torch::Tensor labels = read_idx_bytes(labels_path, 1);
  ADVTK_CHECK(images.size(0) == labels.size(0), images_path, " holds ", images.size(0),
              " images but ", labels_path, " holds ", labels.size(0), " labels");
  Dataset d;
  d.images = images_from_bytes(images, /*channels_last=*/false);
  d.labels = labels.to(torch::kLong);
  d.source = images_path;
  return d;
}

}  // namespace advtk
