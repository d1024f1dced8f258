#include "attacks/targets.h"

#include "core/error.h"
#include "core/seeding.h"

namespace advtk {

torch::Tensor choose_targets(const TargetSpec& spec, const torch::Tensor& clean_logits,
                             const torch::Tensor& labels, const torch::Tensor& index,
                             uint64_t seed) {
  const int64_t k = clean_logits.size(1);
  switch (spec.mode) {
    case TargetMode::None:
      return {};
    case TargetMode::Fixed:
      ADVTK_CHECK(spec.fixed_class >= 0 && spec.fixed_class < k, "--target ", spec.fixed_class,
                  ": expected a class in [0, ", k - 1, "]");
      return torch::full_like(labels, spec.fixed_class);
    case TargetMode::LeastLikely:
      return clean_logits.argmin(1);
    case TargetMode::Random: {
      const torch::Tensor ids = index.to(torch::kCPU, torch::kLong).contiguous();
      torch::Tensor offsets = torch::empty({ids.numel()}, torch::kLong);
      for (int64_t i = 0; i < ids.numel(); ++i) {
        auto gen = make_generator(mix_seed(seed, static_cast<uint64_t>(ids[i].item<int64_t>())),
                                  /*stream=*/0x7A56);
        offsets[i] = torch::randint(1, k, {1}, gen, torch::kLong)[0];
      }
      return (labels + offsets.to(labels.device())).remainder(k);
    }
  }
  TORCH_INTERNAL_ASSERT(false);
}

}  // namespace advtk
