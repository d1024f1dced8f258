// Adversarial training objectives: each batch is attacked on the fly with the attack engine's
// iterative loop (attacks/iterative_attack.h), then the model trains on what the attack found.
//
//   pgd      Madry, Makelov, Schmidt, Tsipras & Vladu 2018: cross-entropy on PGD examples,
//            uniform random start, k steps (default 7 of ε/4, Madry et al.'s CIFAR recipe).
//   fgsm-rs  Wong, Rice & Kolter 2020, "Fast is better than free": one FGSM step of 1.25·ε from
//            a uniform random start, projected back to the ball.
//   trades   Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan 2019: CE(f(x), y) + β·KL(f(x) ‖ f(x')),
//            x' maximising the KL term from x + 0.001·N(0, I) (default 10 steps of ε/4), β = 6.
//
// The attack runs in eval mode with the parameters frozen (AttackerScope): it takes gradients
// w.r.t. the input only and leaves batch-norm statistics alone, as TRADES' reference code does.
// Its randomness comes from (seed, epoch, example), so a resumed run repeats it exactly.
// The engine keeps each example's highest-loss iterate; for these step sizes that is almost
// always the last one, which the papers train on.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "attacks/threat_model.h"
#include "training/objective.h"

namespace advtk {

enum class AdversarialMethod { Pgd, FgsmRs, Trades };

AdversarialMethod parse_adversarial_method(const std::string& name);  // throws advtk::Error
std::string adversarial_method_name(AdversarialMethod method);

struct AdversarialTrainingOptions {
  AdversarialMethod method = AdversarialMethod::Pgd;
  ThreatModel threat;               // the budget reached after the warm-up
  std::optional<int64_t> steps;     // default: pgd 7, fgsm-rs 1, trades 10
  std::optional<double> step_size;  // default: pgd and trades ε/4, fgsm-rs 1.25·ε
  double beta = 6.0;                // trades: weight of the KL term
  double mix = 1.0;           // fraction of each batch replaced by adversarial examples (ART's
                              // `ratio`); the rest trains clean. pgd and fgsm-rs only.
  double epsilon_warmup = 0;  // epochs over which ε (and the step) ramp linearly from 0
  uint64_t seed = 0;
};

// The options with every default filled in; throws advtk::Error on impossible ones.
AdversarialTrainingOptions resolve(AdversarialTrainingOptions options);

// ε after `progress` epochs of training (the linear warm-up).
double warmed_up_eps(const AdversarialTrainingOptions& options, double progress);

// The number of examples of an n-example batch that are attacked: ceil(mix · n), as ART.
int64_t adversarial_count(double mix, int64_t n);

std::unique_ptr<TrainingObjective> make_adversarial_objective(
    const AdversarialTrainingOptions& options);

}  // namespace advtk
