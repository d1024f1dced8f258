#include "attacks/losses.h"

#include <cmath>

#include "core/error.h"

namespace advtk {

std::string loss_name(LossKind kind) {
  switch (kind) {
    case LossKind::CrossEntropy:
      return "ce";
    case LossKind::Margin:
      return "margin";
    case LossKind::Dlr:
      return "dlr";
    case LossKind::Kl:
      return "kl";
  }
  return "?";
}

LossKind parse_loss(const std::string& name) {
  if (name == "ce") return LossKind::CrossEntropy;
  if (name == "margin" || name == "cw") return LossKind::Margin;
  if (name == "dlr") return LossKind::Dlr;
  if (name == "kl") return LossKind::Kl;
  throw Error("--loss: expected ce, margin, dlr or kl, got '" + name + "'");
}

torch::Tensor best_other_logit(const torch::Tensor& logits, const torch::Tensor& classes) {
  const torch::Tensor own = torch::one_hot(classes, logits.size(1)).to(torch::kBool);
  return logits.masked_fill(own, -std::numeric_limits<float>::infinity()).amax(1);
}

torch::Tensor attack_loss(const LossSpec& spec, const torch::Tensor& logits,
                          const torch::Tensor& labels, const torch::Tensor& target,
                          const torch::Tensor& reference) {
  const bool targeted = target.defined();
  const auto pick = [&](const torch::Tensor& c) {
    return logits.gather(1, c.unsqueeze(1)).squeeze(1);
  };
  switch (spec.kind) {
    case LossKind::CrossEntropy: {
      const torch::Tensor log_p = torch::log_softmax(logits, 1);
      return targeted ? log_p.gather(1, target.unsqueeze(1)).squeeze(1)
                      : -log_p.gather(1, labels.unsqueeze(1)).squeeze(1);
    }
    case LossKind::Margin: {
      const torch::Tensor m = targeted ? pick(target) - best_other_logit(logits, target)
                                       : best_other_logit(logits, labels) - pick(labels);
      return std::isfinite(spec.confidence) ? m.clamp_max(spec.confidence) : m;
    }
    case LossKind::Dlr: {
      const int64_t k = logits.size(1);
      ADVTK_CHECK(k >= (targeted ? 4 : 3), "the DLR loss needs at least ", targeted ? 4 : 3,
                  " classes, the model has ", k);
      const torch::Tensor sorted = std::get<0>(logits.sort(1, /*descending=*/true));
      if (!targeted) {
        const torch::Tensor scale = sorted.select(1, 0) - sorted.select(1, 2) + 1e-12;
        return -(pick(labels) - best_other_logit(logits, labels)) / scale;
      }
      const torch::Tensor scale =
          sorted.select(1, 0) - 0.5 * (sorted.select(1, 2) + sorted.select(1, 3)) + 1e-12;
      return -(pick(labels) - pick(target)) / scale;
    }
    case LossKind::Kl: {
      ADVTK_CHECK(reference.defined() && reference.sizes() == logits.sizes(),
                  "the KL loss needs the clean logits of the same examples");
      const torch::Tensor log_r = torch::log_softmax(reference, 1);
      return (log_r.exp() * (log_r - torch::log_softmax(logits, 1))).sum(1);
    }
  }
  TORCH_INTERNAL_ASSERT(false);
}

}  // namespace advtk
