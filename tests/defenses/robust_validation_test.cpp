// Robust validation: the catastrophic-overfitting alarm of fast adversarial training.
#include "defenses/robust_validation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "training/trainer.h"

namespace advtk {
namespace {

TEST(RobustValidation, CatastrophicOverfittingIsACollapseOfPgdWhileFgsmHolds) {
  const auto record = [](int64_t epoch, double pgd, double fgsm) {
    EpochRecord r;
    r.epoch = epoch;
    r.metrics[kPgdAccuracyMetric] = pgd;
    r.metrics[kFgsmAccuracyMetric] = fgsm;
    return r;
  };
  const std::vector<EpochRecord> history = {record(1, 0.30, 0.40), record(2, 0.45, 0.50)};
  const std::string reason = catastrophic_overfitting(history, record(3, 0.03, 0.88), 0.2);
  EXPECT_NE(reason.find("45.0% (epoch 2) to 3.0%"), std::string::npos) << reason;
  EXPECT_NE(reason.find("50.0% to 88.0%"), std::string::npos) << reason;
  // A drop of 20 points or less, or FGSM falling too, is not the signature.
  EXPECT_EQ(catastrophic_overfitting(history, record(3, 0.26, 0.90), 0.2), "");
  EXPECT_EQ(catastrophic_overfitting(history, record(3, 0.03, 0.45), 0.2), "");
  EXPECT_EQ(catastrophic_overfitting({}, record(1, 0.0, 0.9), 0.2), "");
  // An epoch already flagged is no reference.
  std::vector<EpochRecord> flagged = {record(1, 0.9, 0.1)};
  flagged[0].stop_reason = "x";
  EXPECT_EQ(catastrophic_overfitting(flagged, record(2, 0.1, 0.9), 0.2), "");
}

}  // namespace
}  // namespace advtk
