// PSNR and SSIM against closed forms and against a direct evaluation of Wang et al.'s formula
// window by window.
#include <gtest/gtest.h>

#include <cmath>

#include "core/seeding.h"
#include "leakage/image_metrics.h"

namespace advtk {
namespace {

TEST(ImageMetrics, PsnrOfAUniformErrorIsTenLogOfOneOverItsSquare) {
  const torch::Tensor a = torch::full({2, 1, 8, 8}, 0.5);
  torch::Tensor b = a.clone();
  b[0] += 0.1;   // MSE 0.01: 20 dB
  b[1] -= 0.01;  // MSE 1e-4: 40 dB
  const torch::Tensor psnr = image_psnr(a, b);
  EXPECT_NEAR(psnr[0].item<double>(), 20.0, 1e-5);
  EXPECT_NEAR(psnr[1].item<double>(), 40.0, 1e-4);
  EXPECT_NEAR(image_mse(a, b)[0].item<double>(), 0.01, 1e-8);
  EXPECT_DOUBLE_EQ(image_psnr(a, a)[0].item<double>(), kMaxPsnr);
}

TEST(ImageMetrics, SsimOfConstantImagesIsTheLuminanceTerm) {
  // No variance anywhere: SSIM = (2ab + C1) / (a² + b² + C1).
  const double a = 0.2, b = 0.6, c1 = 1e-4;
  const torch::Tensor s =
      image_ssim(torch::full({1, 3, 16, 16}, a), torch::full({1, 3, 16, 16}, b));
  EXPECT_NEAR(s[0].item<double>(), (2 * a * b + c1) / (a * a + b * b + c1), 1e-7);
  const torch::Tensor x = torch::rand({2, 1, 20, 20}, make_generator(7));
  EXPECT_NEAR(image_ssim(x, x)[0].item<double>(), 1.0, 1e-9);
}

TEST(ImageMetrics, SsimMatchesTheFormulaWindowByWindow) {
  torch::Generator gen = make_generator(7);
  const torch::Tensor x = torch::rand({1, 1, 13, 14}, gen);
  const torch::Tensor y = (0.6 * x + 0.3 * torch::rand({1, 1, 13, 14}, gen)).clamp(0, 1);
  // The Gaussian weights, written out.
  double w[11][11], total = 0;
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j)
      total += w[i][j] = std::exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / (2 * 1.5 * 1.5));
  const auto xa = x.accessor<float, 4>(), ya = y.accessor<float, 4>();
  double sum = 0;
  int windows = 0;
  for (int r = 0; r + 11 <= 13; ++r) {
    for (int c = 0; c + 11 <= 14; ++c) {
      double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
      for (int i = 0; i < 11; ++i) {
        for (int j = 0; j < 11; ++j) {
          const double k = w[i][j] / total, p = xa[0][0][r + i][c + j], q = ya[0][0][r + i][c + j];
          mx += k * p;
          my += k * q;
          xx += k * p * p;
          yy += k * q * q;
          xy += k * p * q;
        }
      }
      const double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
      const double c1 = 1e-4, c2 = 9e-4;
      sum += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      ++windows;
    }
  }
  EXPECT_EQ(windows, 3 * 4);
  EXPECT_NEAR(image_ssim(x, y)[0].item<double>(), sum / windows, 1e-9);
}

}  // namespace
}  // namespace advtk
