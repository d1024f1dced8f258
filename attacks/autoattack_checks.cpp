#include "attacks/autoattack_checks.h"

#include <cstdio>

#include "attacks/loss_gradient.h"
#include "attacks/losses.h"
#include "core/error.h"

namespace advtk {
namespace {

std::string format(const char* f, double a, double b = 0) {
  char s[512];
  std::snprintf(s, sizeof s, f, a, b);
  return s;
}

}  // namespace

std::vector<SanityCheck> autoattack_checks(const Model& model, const Dataset& data,
                                           int64_t batch_size) {
  std::vector<SanityCheck> out;
  const int64_t m = std::min<int64_t>({data.size(), 100, std::max<int64_t>(batch_size, 2)});
  if (m == 0) return out;
  const torch::Tensor x = model.from_unit_range(data.images.slice(0, 0, m));
  const torch::Tensor y = data.labels.slice(0, 0, m).to(model.device());
  torch::Tensor z;
  {
    torch::NoGradGuard no_grad;
    z = model.logits(x).to(torch::kCPU, torch::kDouble);
    const torch::Tensor again = model.logits(x).to(torch::kCPU, torch::kDouble);
    const double scale = 1 + z.abs().max().item<double>();
    const double diff = (z - again).abs().max().item<double>();
    SanityCheck c{"randomness", diff > 1e-5 * scale, ""};
    c.message = c.warning ? format(
                                "two passes differ by %.3g (relative %.3g): a randomised model; "
                                "use autoattack-rand (EOT) and judge by a majority of passes",
                                diff, diff / scale)
                          : "two passes give the same outputs";
    out.push_back(c);

    const torch::Tensor sums = z.sum(1);
    const bool probabilities = z.ge(-1e-6).all().item<bool>() &&
                               z.le(1 + 1e-6).all().item<bool>() &&
                               (sums - 1).abs().le(1e-3).all().item<bool>();
    out.push_back({"probability-output", probabilities,
                   probabilities ? "the outputs are probabilities (in [0, 1], summing to 1): "
                                   "attack the logits, or the losses are far weaker"
                                 : "the outputs are not probability vectors"});

    // The first example alone and in its batch: batch statistics or an input-dependent defense
    // make one example's output depend on the others.
    const torch::Tensor alone = model.logits(x.slice(0, 0, 1)).to(torch::kCPU, torch::kDouble);
    const double batch_diff = (alone[0] - z[0]).abs().max().item<double>();
    const bool dynamic = !out.front().warning && batch_diff > 1e-4 * scale;
    out.push_back({"dynamic", dynamic,
                   dynamic ? format("the first example's logits alone and in a batch of %.0f "
                                    "differ by %.3g: the model depends on the batch (train-mode "
                                    "batch norm?); attacks and evaluation may disagree",
                                    static_cast<double>(m), batch_diff)
                           : "an example's output does not depend on its batch"});
  }

  const int64_t classes = z.size(1);
  LossGradient g;
  try {
    g = loss_gradient(model, x, [&](const torch::Tensor& logits) {
      return attack_loss({LossKind::CrossEntropy}, logits, y, {});
    });
  } catch (const std::exception& e) {
    // A backward that throws: gradient attacks cannot run at all.
    out.push_back({"zero-gradients", true,
                   std::string("the input gradient cannot be taken (") + short_message(e) +
                       "): run `advtk masking`"});
  }
  if (g.grad.defined()) {
    const torch::Tensor zero = g.grad.flatten(1).abs().amax(1).le(1e-12).to(torch::kCPU);
    const double zero_fraction = zero.to(torch::kDouble).mean().item<double>();
    out.push_back({"zero-gradients", zero_fraction > 0,
                   format("the cross-entropy's input gradient is zero at %.1f%% of %.0f examples",
                          100 * zero_fraction, static_cast<double>(m)) +
                       (zero_fraction > 0 ? ": gradient masking? run `advtk masking`" : "")});
  }
  out.push_back({"classes", classes < 4,
                 classes < 4 ? "the model has " + std::to_string(classes) +
                                   " classes: the targeted DLR loss of APGD-T needs 4 (and the "
                                   "DLR loss 3); FAB-T has at most " +
                                   std::to_string(classes - 1) + " targets"
                             : std::to_string(classes) + " classes"});
  return out;
}

SanityCheck square_check(int64_t square_broken, int64_t attacked) {
  SanityCheck c{"square-beats-white-box", square_broken > 0, ""};
  c.message = c.warning
                  ? "Square, which uses no gradient, broke " + std::to_string(square_broken) +
                        " of " + std::to_string(attacked) +
                        " examples every white-box attack left robust: a sign of gradient masking; "
                        "run `advtk masking`"
                  : "Square broke nothing the white-box attacks left robust";
  return c;
}

nlohmann::json to_json(const std::vector<SanityCheck>& checks) {
  nlohmann::json j = nlohmann::json::array();
  for (const SanityCheck& c : checks)
    j.push_back({{"check", c.id}, {"warning", c.warning}, {"message", c.message}});
  return j;
}

}  // namespace advtk
