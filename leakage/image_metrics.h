// How close a reconstruction is to the image it reconstructs, per image: mean squared error,
// PSNR, and SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error
// visibility to structural similarity": an 11×11 Gaussian window with σ = 1.5, K1 = 0.01,
// K2 = 0.03, dynamic range L = 1, statistics over the windows that fit inside the image — the
// paper's 'valid' filtering — averaged over windows and channels).
#pragma once

#include "core/torch.h"

namespace advtk {

// PSNR is capped here: an exact reconstruction (MSE 0) reads 100 dB instead of infinity.
inline constexpr double kMaxPsnr = 100.0;

// a, b: [N, C, H, W] in [0, 1]. Each returns [N] float64.
torch::Tensor image_mse(const torch::Tensor& a, const torch::Tensor& b);
torch::Tensor image_psnr(const torch::Tensor& a, const torch::Tensor& b);
// Images smaller than 11 pixels on a side use the largest odd window that fits (same σ).
torch::Tensor image_ssim(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace advtk
