// The per-epoch robustness check of adversarial training: PGD and FGSM accuracy on the
// validation subset at the final budget, and the catastrophic-overfitting alarm of fast
// adversarial training (Wong, Rice & Kolter 2020): PGD accuracy collapsing while FGSM accuracy
// does not fall means the model has learnt to fool the one-step attack, not to resist attacks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attacks/threat_model.h"
#include "data/dataset.h"
#include "training/trainer.h"

namespace advtk {

// The metrics adversarial training adds to each EpochRecord: ε at the end of the epoch (warm-up)
// and the validation subset's robust accuracy under PGD and FGSM.
inline const std::string kEpsMetric = "eps";
inline const std::string kPgdAccuracyMetric = "val_robust_accuracy";
inline const std::string kFgsmAccuracyMetric = "val_fgsm_accuracy";

struct RobustValidationOptions {
  ThreatModel threat;
  int64_t pgd_steps = 10;  // step 2.5·ε/steps, uniform random start (Madry et al.)
  int64_t batch_size = 500;
  bool detect_catastrophic_overfitting = false;
  double collapse = 0.2;  // the PGD accuracy drop that counts as a collapse (Wong et al.'s 20%)
  uint64_t seed = 0;
};

// PGD and FGSM robust accuracy of `model` on `data` (clean-misclassified examples count as broken).
struct RobustAccuracy {
  double pgd = 0.0, fgsm = 0.0;
};
RobustAccuracy robust_accuracy(const Model& model, const Dataset& data,
                               const RobustValidationOptions& options);

// Why `now` shows catastrophic overfitting against the earlier epochs, or "" when it does not:
// its PGD accuracy is more than `collapse` below the best earlier epoch's, and its FGSM accuracy
// is at least that epoch's.
std::string catastrophic_overfitting(const std::vector<EpochRecord>& history,
                                     const EpochRecord& now, double collapse);

// The trainer's epoch check: adds the PGD and FGSM accuracy metrics and, when asked,
// stops the run on catastrophic overfitting.
EpochCheck make_robust_epoch_check(std::shared_ptr<const Dataset> validation,
                                   RobustValidationOptions options);

}  // namespace advtk
