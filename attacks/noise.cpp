#include "attacks/noise.h"

#include <cmath>

#include "core/error.h"

namespace advtk {

NoiseAttack::NoiseAttack(NoiseOptions options) : options_(options) {
  check_threat(options_.threat);
  ADVTK_CHECK(options_.draws >= 1, "--draws: expected at least 1, got ", options_.draws);
}

nlohmann::json NoiseAttack::parameters() const {
  const auto& o = options_;
  return {{"attack", "noise"},   {"norm", norm_name(o.threat.norm)},
          {"eps", o.threat.eps}, {"noise", o.kind == NoiseKind::Uniform ? "uniform" : "gaussian"},
          {"draws", o.draws},    {"seed", o.seed}};
}

AttackResult NoiseAttack::run(const Model& model, const AttackBatch& batch) {
  const auto& o = options_;
  torch::NoGradGuard no_grad;
  AttackResult result = initial_result(batch);
  const int64_t n = batch.x.size(0);
  torch::Tensor idx =
      torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(batch.x.device()));
  const int64_t draws = o.threat.eps > 0 ? o.draws : 0;
  for (int64_t draw = 0; draw <= draws; ++draw) {  // draw 0: x itself
    const AttackBatch sub = select_examples(batch, idx);
    torch::Tensor x_try = sub.x;
    if (draw > 0) {
      auto gens = example_generators(
          o.seed, sub.index, family_stream(StreamFamily::Noise, static_cast<uint64_t>(draw)));
      if (o.kind == NoiseKind::Uniform) {
        x_try = random_start(o.threat, sub.x, gens);
      } else {
        const torch::Tensor dir = example_gaussian(gens, sub.x);
        std::vector<int64_t> per_example_shape(dir.dim(), 1);
        per_example_shape[0] = -1;
        // Linf: N(0, ε²) per pixel, clipped to the ball; L2/L1: scaled onto the sphere of radius ε.
        const torch::Tensor scaled = o.threat.norm == Norm::Linf
                                         ? dir * o.threat.eps
                                         : dir * o.threat.eps /
                                               distance(o.threat.norm, dir, torch::zeros_like(dir))
                                                   .clamp_min(1e-12)
                                                   .view(per_example_shape);
        x_try = project(o.threat, sub.x + scaled, sub.x);
      }
    }
    const torch::Tensor pred = model.logits(x_try).argmax(1);
    result.forward_calls.index_add_(0, idx, torch::ones_like(idx));
    const torch::Tensor success = is_adversarial_pred(pred, sub.y, sub.target);
    update_rows(result.x_adv, idx, success, x_try);
    update_rows(result.pred, idx, success | torch::full_like(success, draw == 0), pred);
    result.success.index_copy_(0, idx, success);
    const torch::Tensor keep = (~success).nonzero().squeeze(1);
    if (keep.numel() == 0) break;
    idx = idx.index_select(0, keep);
  }
  result.distance = distance(o.threat.norm, result.x_adv, batch.x);
  return result;
}

AttackInfo noise_info() {
  AttackInfo info;
  info.name = "noise";
  info.description = "random perturbations at the budget, uniform or Gaussian (baseline)";
  info.norms = {Norm::Linf, Norm::L2, Norm::L1};
  info.options = {
      choice_option("noise", "uniform", {"uniform", "gaussian"}, "the noise's distribution"),
      integer_option("draws", 100, 1, "random draws per example")};
  info.make = [](const AttackSetup& s, const OptionValues& v) {
    NoiseOptions o;
    o.threat = s.threat;
    o.kind = v.choice("noise") == "uniform" ? NoiseKind::Uniform : NoiseKind::Gaussian;
    o.draws = v.integer("draws");
    o.seed = s.seed;
    return std::unique_ptr<Attack>(std::make_unique<NoiseAttack>(o));
  };
  return info;
}

}  // namespace advtk
