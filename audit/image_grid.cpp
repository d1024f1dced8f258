#include "audit/image_grid.h"

#include <stb_easy_font.h>

#include <algorithm>
#include <cmath>

namespace advtk {
namespace {

constexpr int64_t kPad = 6;
constexpr int64_t kCaption = 12;

torch::Tensor to_rgb(const torch::Tensor& img) {
  torch::Tensor x = img.detach().to(torch::kCPU, torch::kFloat);
  return x.size(0) == 1 ? x.expand({3, x.size(1), x.size(2)}) : x.slice(0, 0, 3);
}

torch::Tensor upscale(const torch::Tensor& img, int64_t factor) {
  return img.repeat_interleave(factor, 1).repeat_interleave(factor, 2);
}

}  // namespace

void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text) {
  std::vector<char> buffer(text.size() * 300 + 64);
  std::string copy = text;
  for (char& ch : copy)
    if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '?';
  const int quads = stb_easy_font_print(static_cast<float>(x), static_cast<float>(y), copy.data(),
                                        nullptr, buffer.data(), static_cast<int>(buffer.size()));
  const int64_t h = image.size(1), w = image.size(2);
  auto acc = image.accessor<float, 3>();
  for (int q = 0; q < quads; ++q) {
    const float* v = reinterpret_cast<const float*>(buffer.data() + q * 64);
    // Vertices are 16 bytes (x, y, z, colour); quads are axis-aligned.
    const auto x0 = static_cast<int64_t>(std::floor(std::min(v[0], v[8])));
    const auto x1 = static_cast<int64_t>(std::ceil(std::max(v[0], v[8])));
    const auto y0 = static_cast<int64_t>(std::floor(std::min(v[1], v[9])));
    const auto y1 = static_cast<int64_t>(std::ceil(std::max(v[1], v[9])));
    for (int64_t yy = std::max<int64_t>(0, y0); yy < std::min(h, y1); ++yy)
      for (int64_t xx = std::max<int64_t>(0, x0); xx < std::min(w, x1); ++xx)
        for (int c = 0; c < 3; ++c) acc[c][yy][xx] = 0.0f;
  }
}

torch::Tensor render_grid(const std::vector<GridRow>& rows) {
  if (rows.empty()) return torch::ones({3, 16, 16});
  const int64_t ih = rows[0].clean.size(1), iw = rows[0].clean.size(2);
  // Small images are enlarged so that captions fit under them.
  const int64_t factor = std::max<int64_t>(1, (96 + iw - 1) / iw);
  const int64_t cw = iw * factor, ch = ih * factor;
  const int64_t width = kPad + 3 * (cw + kPad);
  const int64_t height = kPad + static_cast<int64_t>(rows.size()) * (ch + kCaption + kPad);
  torch::Tensor canvas = torch::ones({3, height, width});
  for (size_t r = 0; r < rows.size(); ++r) {
    const torch::Tensor clean = to_rgb(rows[r].clean), adv = to_rgb(rows[r].adversarial);
    const torch::Tensor delta = adv - clean;
    const double peak = std::max(delta.abs().max().item<double>(), 1e-12);
    const torch::Tensor shown_delta = (delta / (2 * peak) + 0.5).clamp(0, 1);
    const torch::Tensor cells[3] = {clean, shown_delta, adv};
    const std::string captions[3] = {rows[r].clean_caption, rows[r].perturbation_caption,
                                     rows[r].adversarial_caption};
    const int64_t top = kPad + static_cast<int64_t>(r) * (ch + kCaption + kPad);
    for (int col = 0; col < 3; ++col) {
      const int64_t left = kPad + col * (cw + kPad);
      canvas.slice(1, top, top + ch).slice(2, left, left + cw).copy_(upscale(cells[col], factor));
      std::string caption = captions[col];
      while (!caption.empty() && stb_easy_font_width(caption.data()) > cw) caption.pop_back();
      draw_text(canvas, left, top + ch + 2, caption);
    }
  }
  return canvas;
}

torch::Tensor render_image_rows(const std::vector<ImageRow>& rows) {
  if (rows.empty() || rows[0].images.size(0) == 0) return torch::ones({3, 16, 16});
  const int64_t ih = rows[0].images.size(2), iw = rows[0].images.size(3);
  const int64_t factor = std::max<int64_t>(1, (64 + iw - 1) / iw);
  const int64_t cw = iw * factor, ch = ih * factor;
  int64_t title_width = 0, columns = 0;
  for (const ImageRow& row : rows) {
    std::string t = row.title;
    title_width = std::max<int64_t>(title_width, stb_easy_font_width(t.data()));
    columns = std::max<int64_t>(columns, row.images.size(0));
  }
  const int64_t left0 = kPad + std::min<int64_t>(title_width, 160) + kPad;
  const int64_t width = left0 + columns * (cw + kPad);
  const int64_t height = kPad + static_cast<int64_t>(rows.size()) * (ch + kCaption + kPad);
  torch::Tensor canvas = torch::ones({3, height, width});
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t top = kPad + static_cast<int64_t>(r) * (ch + kCaption + kPad);
    draw_text(canvas, kPad, top + ch / 2 - 4, rows[r].title);
    for (int64_t c = 0; c < rows[r].images.size(0); ++c) {
      const int64_t left = left0 + c * (cw + kPad);
      canvas.slice(1, top, top + ch)
          .slice(2, left, left + cw)
          .copy_(upscale(to_rgb(rows[r].images[c]), factor));
      if (c < static_cast<int64_t>(rows[r].captions.size())) {
        std::string caption = rows[r].captions[c];
        while (!caption.empty() && stb_easy_font_width(caption.data()) > cw) caption.pop_back();
        draw_text(canvas, left, top + ch + 2, caption);
      }
    }
  }
  return canvas;
}

}  // namespace advtk
