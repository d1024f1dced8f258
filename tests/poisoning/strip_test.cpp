// STRIP on the shared BadNets model: triggered inputs flagged, clean ones not (the bar:
// >= 90% of triggered test inputs at <= 5% of clean ones).
#include <gtest/gtest.h>

#include "poisoning/backdoor_fixtures.h"
#include "poisoning/strip.h"

namespace advtk {
namespace {

TEST(Strip, FlagsTriggeredInputsAndLeavesCleanOnes) {
  if (!test::fashion_mnist_available()) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const test::BackdoorFixture& f = test::backdoor_fixture();
  const torch::Tensor clean = f.test.images.narrow(0, 0, 200);
  // Held-out clean inputs and triggered ones of other classes, screened together.
  const torch::Tensor others =
      torch::nonzero(f.test.labels.narrow(0, 200, 200) != f.target).squeeze(1) + 200;
  const torch::Tensor triggered = apply_trigger(f.trigger, f.test.images.index_select(0, others));
  const torch::Tensor held_out = f.test.images.narrow(0, 400, 200);
  StripOptions o;
  const StripReport r = strip_screen(f.poisoned, clean, torch::cat({triggered, held_out}), o);
  int64_t caught = 0, false_alarms = 0;
  for (int64_t i : r.flagged) (i < triggered.size(0) ? caught : false_alarms) += 1;
  EXPECT_GE(static_cast<double>(caught) / triggered.size(0), 0.9) << "threshold " << r.threshold;
  EXPECT_LE(static_cast<double>(false_alarms) / held_out.size(0), 0.05);
  EXPECT_LT(r.threshold, r.clean_mean);
}

}  // namespace
}  // namespace advtk
