#include "leakage/label_inference.h"

#include <algorithm>

#include "core/error.h"

namespace advtk {

std::optional<OutputLayer> find_output_layer(const std::vector<torch::Tensor>& params,
                                             int64_t num_classes) {
  for (int64_t i = static_cast<int64_t>(params.size()) - 1; i >= 0; --i) {
    const torch::Tensor& w = params[i];
    if (w.dim() != 2 || w.size(0) != num_classes) continue;
    OutputLayer layer;
    layer.weight = i;
    if (i + 1 < static_cast<int64_t>(params.size()) && params[i + 1].dim() == 1 &&
        params[i + 1].size(0) == num_classes)
      layer.bias = i + 1;
    return layer;
  }
  return std::nullopt;
}

std::vector<int64_t> infer_labels(const std::vector<torch::Tensor>& shared,
                                  const OutputLayer& layer, int64_t batch_size, double sign) {
  ADVTK_CHECK(batch_size >= 1, "label inference: expected a batch of at least 1");
  const torch::Tensor entry = (layer.bias >= 0 ? shared[layer.bias] : shared[layer.weight].sum(1))
                                  .to(torch::kCPU, torch::kDouble) *
                              sign;
  std::vector<double> s(entry.data_ptr<double>(), entry.data_ptr<double>() + entry.numel());
  std::vector<int64_t> labels;
  double negative_sum = 0;
  for (size_t c = 0; c < s.size(); ++c) {
    if (s[c] < 0) {
      labels.push_back(static_cast<int64_t>(c));
      negative_sum += s[c];
    }
  }
  if (labels.empty()) return std::vector<int64_t>(batch_size, -1);
  if (static_cast<int64_t>(labels.size()) > batch_size) {
    // Only without a bias (h of mixed signs) can more classes than examples read negative:
    // keep the most negative.
    std::sort(labels.begin(), labels.end(), [&](int64_t a, int64_t b) { return s[a] < s[b]; });
    labels.resize(batch_size);
  }
  const double share = negative_sum / static_cast<double>(batch_size);
  for (int64_t c : labels) s[c] -= share;
  while (static_cast<int64_t>(labels.size()) < batch_size) {
    const auto c = static_cast<int64_t>(std::min_element(s.begin(), s.end()) - s.begin());
    labels.push_back(c);
    s[c] -= share;
  }
  std::sort(labels.begin(), labels.end());
  return labels;
}

}  // namespace advtk
