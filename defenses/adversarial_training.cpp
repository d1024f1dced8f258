#include "defenses/adversarial_training.h"

#include <algorithm>
#include <cmath>

#include "attacks/iterative_attack.h"
#include "core/error.h"
#include "core/seeding.h"

namespace advtk {
namespace {

class AdversarialObjective : public TrainingObjective {
 public:
  explicit AdversarialObjective(AdversarialTrainingOptions options)
      : options_(resolve(std::move(options))) {}

  BatchLoss compute(Model& model, const TrainBatch& batch) override {
    const auto& o = options_;
    const int64_t n = batch.x.size(0);
    const int64_t attacked = adversarial_count(o.mix, n);
    AttackBatch victims;
    victims.x = batch.x.slice(0, 0, attacked);
    victims.y = batch.y.slice(0, 0, attacked);
    victims.index = batch.index.slice(0, 0, attacked);
    torch::Tensor x_adv;
    {
      AttackerScope attacker(model);
      x_adv = crafting_attack(batch)->run(model, victims).x_adv.detach();
    }
    if (o.method == AdversarialMethod::Trades) {
      const torch::Tensor clean = model.logits(batch.x);
      const torch::Tensor adversarial = model.logits(x_adv);
      const torch::Tensor kl = torch::kl_div(torch::log_softmax(adversarial, 1),
                                             torch::log_softmax(clean, 1), at::Reduction::Sum,
                                             /*log_target=*/true) /
                               static_cast<double>(n);
      return {torch::nn::functional::cross_entropy(clean, batch.y) + o.beta * kl, adversarial};
    }
    const torch::Tensor inputs =
        attacked == n ? x_adv : torch::cat({x_adv, batch.x.slice(0, attacked, n)});
    const torch::Tensor logits = model.logits(inputs);
    return {torch::nn::functional::cross_entropy(logits, batch.y), logits};
  }

  std::string name() const override { return adversarial_method_name(options_.method); }

 private:
  std::unique_ptr<Attack> crafting_attack(const TrainBatch& batch) const {
    const auto& o = options_;
    IterativeAttackOptions a;
    a.threat = o.threat;
    a.threat.eps = warmed_up_eps(o, batch.progress);
    a.steps = *o.steps;
    // The step keeps its ratio to ε through the warm-up (at ε = 0 the attack does nothing).
    a.step_size = *o.step_size * a.threat.eps / o.threat.eps;
    a.start = o.method == AdversarialMethod::Trades ? StartKind::Gaussian : StartKind::UniformBall;
    a.loss.kind = o.method == AdversarialMethod::Trades ? LossKind::Kl : LossKind::CrossEntropy;
    a.early_stop = false;  // training wants the strongest point, not just any misclassified one
    a.seed = mix_seed(o.seed, static_cast<uint64_t>(batch.epoch));
    a.name = "training-" + adversarial_method_name(o.method);
    return make_pgd(a);
  }

  AdversarialTrainingOptions options_;
};

}  // namespace

AdversarialMethod parse_adversarial_method(const std::string& name) {
  if (name == "pgd") return AdversarialMethod::Pgd;
  if (name == "fgsm-rs") return AdversarialMethod::FgsmRs;
  if (name == "trades") return AdversarialMethod::Trades;
  throw Error("--adversarial: expected pgd, fgsm-rs or trades, got '" + name + "'");
}

std::string adversarial_method_name(AdversarialMethod method) {
  switch (method) {
    case AdversarialMethod::Pgd:
      return "pgd";
    case AdversarialMethod::FgsmRs:
      return "fgsm-rs";
    case AdversarialMethod::Trades:
      return "trades";
  }
  return "?";
}

AdversarialTrainingOptions resolve(AdversarialTrainingOptions o) {
  ADVTK_CHECK(std::isfinite(o.threat.eps) && o.threat.eps > 0,
              "--eps: adversarial training needs a budget > 0, got ", o.threat.eps);
  check_threat(o.threat);
  const bool fgsm = o.method == AdversarialMethod::FgsmRs;
  if (!o.steps) o.steps = fgsm ? 1 : o.method == AdversarialMethod::Pgd ? 7 : 10;
  ADVTK_CHECK(*o.steps >= 1, "--attack-steps: expected at least 1, got ", *o.steps);
  ADVTK_CHECK(!fgsm || *o.steps == 1, "--attack-steps: fgsm-rs takes exactly one step, got ",
              *o.steps, " (use --adversarial pgd for more)");
  if (!o.step_size) o.step_size = fgsm ? 1.25 * o.threat.eps : o.threat.eps / 4;
  ADVTK_CHECK(std::isfinite(*o.step_size) && *o.step_size > 0,
              "--attack-step-size: expected a value > 0, got ", *o.step_size);
  ADVTK_CHECK(std::isfinite(o.beta) && o.beta >= 0, "--beta: expected a value >= 0, got ", o.beta);
  ADVTK_CHECK(o.mix > 0 && o.mix <= 1, "--mix: expected the adversarial fraction in (0, 1], got ",
              o.mix);
  ADVTK_CHECK(o.method != AdversarialMethod::Trades || o.mix == 1,
              "--mix: trades already trains on clean examples (its CE term); weigh the two with "
              "--beta instead");
  ADVTK_CHECK(std::isfinite(o.epsilon_warmup) && o.epsilon_warmup >= 0,
              "--epsilon-warmup: expected epochs >= 0, got ", o.epsilon_warmup);
  return o;
}

double warmed_up_eps(const AdversarialTrainingOptions& o, double progress) {
  if (o.epsilon_warmup <= 0) return o.threat.eps;
  return o.threat.eps * std::min(1.0, progress / o.epsilon_warmup);
}

int64_t adversarial_count(double mix, int64_t n) {
  // The small tolerance keeps 0.3 · 10 at 3 despite 0.3 being stored as 0.30000000000000004.
  return std::min(n, static_cast<int64_t>(std::ceil(mix * static_cast<double>(n) - 1e-9)));
}

std::unique_ptr<TrainingObjective> make_adversarial_objective(
    const AdversarialTrainingOptions& options) {
  return std::make_unique<AdversarialObjective>(options);
}

}  // namespace advtk
