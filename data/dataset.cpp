#include "data/dataset.h"

#include <cmath>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/seeding.h"

namespace advtk {

int64_t Dataset::num_classes() const {
  if (!class_names.empty()) return static_cast<int64_t>(class_names.size());
  if (size() == 0) return 0;
  return labels.max().item<int64_t>() + 1;
}

std::string Dataset::class_name(int64_t label) const {
  if (label >= 0 && label < static_cast<int64_t>(class_names.size())) return class_names[label];
  return std::to_string(label);
}

void validate_dataset(const Dataset& d) {
  const std::string& src = d.source;
  ADVTK_CHECK(d.images.defined() && d.labels.defined(), src, ": no images or labels");
  ADVTK_CHECK(d.images.dim() == 4, src, ": expected images [N,C,H,W], got ", d.images.sizes());
  ADVTK_CHECK(d.images.scalar_type() == torch::kFloat, src, ": expected float32 images, got ",
              d.images.scalar_type());
  ADVTK_CHECK(d.labels.dim() == 1, src, ": expected labels [N], got ", d.labels.sizes());
  ADVTK_CHECK(d.labels.scalar_type() == torch::kLong, src, ": expected int64 labels, got ",
              d.labels.scalar_type());
  ADVTK_CHECK(d.images.size(0) == d.labels.size(0), src, ": ", d.images.size(0), " images but ",
              d.labels.size(0), " labels");
  ADVTK_CHECK(d.size() > 0, src, ": the dataset is empty");
  // One pass: min and max propagate NaN, so finite bounds in [0, 1] also rule out NaN and Inf.
  const auto [min_t, max_t] = torch::aminmax(d.images);
  const double lo = min_t.item<double>();
  const double hi = max_t.item<double>();
  ADVTK_CHECK(std::isfinite(lo) && std::isfinite(hi), src, ": images contain NaN or Inf values");
  ADVTK_CHECK(lo >= 0.0 && hi <= 1.0, src, ": pixel values must lie in [0, 1], found [", lo, ", ",
              hi, "] (scale 0-255 data by 1/255)");
  const int64_t min_label = d.labels.min().item<int64_t>();
  const int64_t max_label = d.labels.max().item<int64_t>();
  ADVTK_CHECK(min_label >= 0, src, ": negative label ", min_label);
  if (!d.class_names.empty()) {
    ADVTK_CHECK(max_label < static_cast<int64_t>(d.class_names.size()), src, ": label ", max_label,
                " out of range for ", d.class_names.size(), " classes");
  }
}

Dataset select(const Dataset& dataset, const Selection& selection) {
  const int64_t n = dataset.size();
  ADVTK_CHECK(selection.offset >= 0, "--offset: expected a non-negative number, got ",
              selection.offset);
  ADVTK_CHECK(selection.offset < n, "--offset ", selection.offset, " is past the end of ",
              dataset.source, " (", n, " examples)");
  ADVTK_CHECK(selection.limit == -1 || selection.limit > 0,
              "--limit: expected a positive number, got ", selection.limit);
  Dataset out = dataset;
  torch::Tensor index;
  if (selection.shuffle) {
    auto gen = make_generator(selection.seed, /*stream=*/0x5348);
    index = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
  } else {
    index = torch::arange(n, torch::kLong);
  }
  const int64_t end = selection.limit < 0 ? n : std::min(n, selection.offset + selection.limit);
  index = index.slice(0, selection.offset, end);
  if (!(index.size(0) == n && !selection.shuffle)) {
    // Consecutive examples of images mapped from a file stay a view of the mapping, shared with
    // the other processes that map it; images in memory are copied, so that the rest can go.
    const bool view = !selection.shuffle && in_mapped_file(dataset.images.data_ptr());
    out.images = view ? dataset.images.slice(0, selection.offset, end)
                      : dataset.images.index_select(0, index);
    out.labels = dataset.labels.index_select(0, index);
    out.ids = dataset.example_ids().index_select(0, index);
  }
  return out;
}

torch::Tensor images_from_bytes(const torch::Tensor& bytes, bool channels_last) {
  TORCH_INTERNAL_ASSERT(bytes.scalar_type() == torch::kByte);
  torch::Tensor x = bytes;
  if (x.dim() == 3) {
    x = x.unsqueeze(1);
  } else if (channels_last) {
    x = x.permute({0, 3, 1, 2});
  }
  return x.to(torch::kFloat).div_(255.0).contiguous();
}

}  // namespace advtk

namespace advtk {

Dataset dataset_from_arrays(torch::Tensor images, torch::Tensor labels, const std::string& source) {
  ADVTK_CHECK(images.dim() == 3 || images.dim() == 4, source,
              ": expected images of shape [N,H,W], [N,C,H,W] or [N,H,W,C], got ", images.sizes());
  ADVTK_CHECK(labels.dim() == 1, source, ": expected labels of shape [N], got ", labels.sizes());
  ADVTK_CHECK(
      !labels.is_floating_point() && !labels.is_complex() && labels.scalar_type() != torch::kBool,
      source, ": expected integer labels, got ", labels.scalar_type());
  const auto is_channels = [](int64_t c) { return c == 1 || c == 3 || c == 4; };
  const bool channels_last =
      images.dim() == 4 && is_channels(images.size(3)) && !is_channels(images.size(1));
  Dataset d;
  d.source = source;
  if (images.scalar_type() == torch::kByte) {
    d.images = images_from_bytes(images, channels_last);
  } else {
    ADVTK_CHECK(images.is_floating_point(), source,
                ": expected uint8 (0-255) or floating-point (0-1) images, got ",
                images.scalar_type());
    torch::Tensor x = images.to(torch::kFloat);
    if (x.dim() == 3) x = x.unsqueeze(1);
    if (channels_last) x = x.permute({0, 3, 1, 2});
    d.images = x.contiguous();
  }
  d.labels = labels.to(torch::kLong).contiguous();
  validate_dataset(d);
  return d;
}

}  // namespace advtk
