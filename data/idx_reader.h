// IDX files (the MNIST / Fashion-MNIST format), gzipped or raw. Magic number, rank, dimensions and
// the payload length are all checked against the header.
#pragma once

#include <string>
#include <vector>

#include "core/torch.h"
#include "data/dataset.h"

namespace advtk {

// Reads an unsigned-byte IDX tensor of the given rank (3 for images, 1 for labels) as uint8.
torch::Tensor read_idx_bytes(const std::string& path, int64_t expected_rank);
// The same from the file's bytes (gunzipped already); errors name `name`.
torch::Tensor parse_idx(const std::vector<char>& bytes, const std::string& name,
                        int64_t expected_rank);

// An images file ([N,H,W] ubyte) and a labels file ([N] ubyte) as one Dataset.
Dataset load_idx(const std::string& images_path, const std::string& labels_path);

}  // namespace advtk
