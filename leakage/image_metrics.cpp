#include "leakage/image_metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace advtk {
namespace {

void check_pair(const torch::Tensor& a, const torch::Tensor& b) {
  ADVTK_CHECK(a.dim() == 4 && a.sizes() == b.sizes(), "image metrics: expected two [N,C,H,W] ",
              "tensors of one shape");
}

// The normalised 2-D Gaussian window [1, 1, k, k].
torch::Tensor gaussian_window(int64_t k, double sigma) {
  const torch::Tensor t = torch::arange(k, torch::kDouble) - static_cast<double>(k - 1) / 2;
  torch::Tensor g = torch::exp(-t.pow(2) / (2 * sigma * sigma));
  g = g / g.sum();
  return torch::outer(g, g).view({1, 1, k, k});
}

}  // namespace

torch::Tensor image_mse(const torch::Tensor& a, const torch::Tensor& b) {
  check_pair(a, b);
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).pow(2).flatten(1).mean(1).cpu();
}

torch::Tensor image_psnr(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor mse = image_mse(a, b);
  const double floor = std::pow(10.0, -kMaxPsnr / 10);
  return -10 * torch::log10(torch::clamp_min(mse, floor));
}

torch::Tensor image_ssim(const torch::Tensor& a, const torch::Tensor& b) {
  check_pair(a, b);
  const int64_t n = a.size(0), c = a.size(1);
  int64_t k = std::min<int64_t>({11, a.size(2), a.size(3)});
  if (k % 2 == 0) --k;
  const torch::Tensor w = gaussian_window(k, 1.5).to(a.device());
  // Channels as separate images: the window filters each alone.
  const torch::Tensor x = a.to(torch::kDouble).reshape({n * c, 1, a.size(2), a.size(3)});
  const torch::Tensor y = b.to(torch::kDouble).reshape({n * c, 1, a.size(2), a.size(3)});
  const auto filter = [&](const torch::Tensor& t) { return torch::conv2d(t, w); };
  const torch::Tensor mx = filter(x), my = filter(y);
  const torch::Tensor sxx = filter(x * x) - mx * mx;
  const torch::Tensor syy = filter(y * y) - my * my;
  const torch::Tensor sxy = filter(x * y) - mx * my;
  const double c1 = std::pow(0.01, 2), c2 = std::pow(0.03, 2);
  const torch::Tensor map =
      ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  return map.reshape({n, -1}).mean(1).cpu();
}

}  // namespace advtk
