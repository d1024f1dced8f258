// A picture of an attack for people: one row per example — clean image, the perturbation
// (amplified to the full range, grey = 0), adversarial image — each captioned.
#pragma once

#include <string>
#include <vector>

#include "core/torch.h"

namespace advtk {

struct GridRow {
  torch::Tensor clean, adversarial;  // [C, H, W] in [0, 1]
  std::string clean_caption, perturbation_caption, adversarial_caption;
};

// Returns a [3, H, W] image in [0, 1].
torch::Tensor render_grid(const std::vector<GridRow>& rows);

// A row of images of one size with a title on its left and a caption under each image: the
// originals above their reconstructions, one row per defense.
struct ImageRow {
  std::string title;
  torch::Tensor images;  // [N, C, H, W] in [0, 1]
  std::vector<std::string> captions;
};
torch::Tensor render_image_rows(const std::vector<ImageRow>& rows);

// Draws `text` in black with its top-left corner at (x, y) on a [3, H, W] image, using stb's
// built-in 7-pixel vector font; clipped at the image border.
void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text);

}  // namespace advtk
