#include "leakage/analytic_inversion.h"

#include <algorithm>

#include "core/error.h"

namespace advtk {
namespace {

// Module input z [B, D] back to the model's pixel range [B, C, H, W], then to [0, 1].
torch::Tensor to_unit_images(torch::Tensor z, const std::vector<int64_t>& shape, const Model& model,
                             bool clamp = true) {
  const ModelOptions& o = model.options();
  const int64_t b = z.size(0), c = shape[0], h = shape[1], w = shape[2];
  torch::Tensor x = o.layout == InputLayout::Nhwc ? z.view({b, h, w, c}).permute({0, 3, 1, 2})
                                                  : z.view({b, c, h, w});
  if (!o.mean.empty()) {
    const auto per_channel = [&](const std::vector<double>& v) {
      torch::Tensor t = torch::tensor(v, torch::kDouble);
      if (t.numel() == 1) t = t.expand({c});
      return t.view({1, c, 1, 1}).to(x.device());
    };
    x = x * per_channel(o.std) + per_channel(o.mean);
  }
  x = (x - o.input_lo) / (o.input_hi - o.input_lo);
  return clamp ? x.clamp(0, 1).to(torch::kFloat) : x;
}

}  // namespace

std::optional<FirstLinearLayer> find_first_linear_layer(const std::vector<torch::Tensor>& params,
                                                        int64_t input_size) {
  if (params.size() < 2) return std::nullopt;
  const torch::Tensor& w = params[0];
  const torch::Tensor& b = params[1];
  if (w.dim() != 2 || w.size(1) != input_size || b.dim() != 1 || b.size(0) != w.size(0))
    return std::nullopt;
  return FirstLinearLayer{0, 1};
}

torch::Tensor analytic_inversion(const std::vector<torch::Tensor>& shared,
                                 const FirstLinearLayer& layer, int64_t batch_size,
                                 const std::vector<int64_t>& image_shape, const Model& model) {
  const torch::Tensor gw = shared[layer.weight].to(torch::kDouble);  // [U, D]
  const torch::Tensor gb = shared[layer.bias].to(torch::kDouble);    // [U]
  const int64_t d = gw.size(1);
  const double total = gb.pow(2).sum().item<double>();
  if (total == 0)
    return torch::full({batch_size, image_shape[0], image_shape[1], image_shape[2]},
                       0.5);  // nothing to read
  if (batch_size == 1) {
    const torch::Tensor z = (gb.unsqueeze(1) * gw).sum(0, true) / total;
    return to_unit_images(z, image_shape, model);
  }
  // Single-row ratios of the rows that carry a gradient, strongest first. A row mixing examples
  // whose gradients have opposite signs extrapolates beyond them, usually out of the input box:
  // such rows are set aside while enough rows remain.
  const torch::Tensor mag = gb.abs();
  const torch::Tensor active = torch::nonzero(mag > mag.max() * 1e-6).squeeze(1);
  const torch::Tensor order =
      active.index_select(0, std::get<1>(mag.index_select(0, active).sort(true, 0, true)));
  torch::Tensor rows = gw.index_select(0, order) / gb.index_select(0, order).unsqueeze(1);
  const torch::Tensor images = to_unit_images(rows, image_shape, model, /*clamp=*/false);
  const torch::Tensor in_box =
      torch::nonzero(((images < -1e-3) | (images > 1 + 1e-3)).flatten(1).any(1).logical_not())
          .squeeze(1);
  if (in_box.numel() >= batch_size) rows = rows.index_select(0, in_box);
  std::vector<int64_t> picked = {0};
  torch::Tensor nearest = (rows - rows[0]).pow(2).sum(1);
  while (static_cast<int64_t>(picked.size()) < std::min<int64_t>(batch_size, rows.size(0))) {
    const int64_t next = nearest.argmax().item<int64_t>();
    picked.push_back(next);
    nearest = torch::minimum(nearest, (rows - rows[next]).pow(2).sum(1));
  }
  while (static_cast<int64_t>(picked.size()) < batch_size) picked.push_back(picked.front());
  const torch::Tensor z = rows.index_select(0, torch::tensor(picked)).view({batch_size, d});
  return to_unit_images(z, image_shape, model);
}

}  // namespace advtk
