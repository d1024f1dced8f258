#include "training/lr_schedule.h"

#include <gtest/gtest.h>

namespace advtk {
namespace {

TEST(LrSchedule, ConstantWithLinearWarmup) {
  ScheduleSettings s;
  s.warmup_epochs = 1;
  // 10 steps an epoch: warm-up covers steps 0..9 at lr * (step+1)/10.
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 0, 10, 50), 0.01);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 4, 10, 50), 0.05);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 10, 10, 50), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 49, 10, 50), 0.1);
}

TEST(LrSchedule, StepDecaysByGammaEveryStepEpochs) {
  ScheduleSettings s;
  s.kind = ScheduleKind::Step;
  s.step_epochs = 2;
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 19, 10, 60), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 20, 10, 60), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 45, 10, 60), 0.25);
  s.step_epochs = 0;  // default: a third of the run (6 epochs -> every 2)
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1.0, 40, 10, 60), 0.25);
}

TEST(LrSchedule, CosineRunsFromBaseToMinimum) {
  ScheduleSettings s;
  s.kind = ScheduleKind::Cosine;
  s.min_lr = 0.001;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 0, 10, 101), 0.1);
  EXPECT_NEAR(learning_rate_at(s, 0.1, 50, 10, 101), (0.1 + 0.001) / 2, 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 0.1, 100, 10, 101), 0.001, 1e-12);
  for (int64_t step = 1; step < 101; ++step)
    EXPECT_LE(learning_rate_at(s, 0.1, step, 10, 101), learning_rate_at(s, 0.1, step - 1, 10, 101));
}

}  // namespace
}  // namespace advtk
