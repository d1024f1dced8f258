// A labelled image set as every room sees it, and the selection (offset/limit/shuffle) applied to
// it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

struct Dataset {
  torch::Tensor images;                  // [N, C, H, W] float32 in [0, 1]
  torch::Tensor labels;                  // [N] int64, in [0, num_classes)
  std::vector<std::string> class_names;  // optional; when set, its size is the class count
  std::string source;                    // where it came from, for messages
  torch::Tensor ids;                     // [N] int64 positions in the source (set by select());
                                         // undefined means 0..N-1. Seeds per example use these.

  torch::Tensor example_ids() const {
    return ids.defined() ? ids : torch::arange(size(), torch::kLong);
  }

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // The declared class count when names are known, else 1 + the largest label.
  int64_t num_classes() const;
  std::string class_name(int64_t label) const;
};

// Rejects, with a message naming `dataset.source`, anything that breaks the Dataset contract:
// wrong ranks or dtypes, count mismatch, NaN/Inf or out-of-range pixels, labels out of range.
void validate_dataset(const Dataset& dataset);

struct Selection {
  int64_t offset = 0;
  int64_t limit = -1;    // -1: everything from offset on
  bool shuffle = false;  // shuffled (with `seed`) before offset/limit are applied
  uint64_t seed = 0;
};

Dataset select(const Dataset& dataset, const Selection& selection);

// uint8 images in any of [N,H,W], [N,H,W,C] (channels_last=true) or [N,C,H,W] to float [N,C,H,W].
torch::Tensor images_from_bytes(const torch::Tensor& bytes, bool channels_last);

}  // namespace advtk

namespace advtk {

// Builds a Dataset from arrays as programs store them: images uint8 (0-255) or floating (0-1) in
// [N,H,W], [N,C,H,W] or [N,H,W,C] (C in {1,3,4} and not already in position 1), labels of any
// integer type. Validated; `source` names the origin in messages.
Dataset dataset_from_arrays(torch::Tensor images, torch::Tensor labels, const std::string& source);

}  // namespace advtk
