// Learning-rate schedules as pure functions of the step, so a resumed run needs no schedule state.
#pragma once

#include <cstdint>
#include <string>

namespace advtk {

enum class ScheduleKind { Constant, Step, Cosine };

struct ScheduleSettings {
  ScheduleKind kind = ScheduleKind::Constant;
  double warmup_epochs = 0;  // linear ramp from 0 over these epochs (fractions allowed)
  double step_epochs = 0;    // step: multiply by gamma every step_epochs (0: a third of the run)
  double gamma = 0.1;        // step: the decay factor
  double min_lr = 0.0;       // cosine: the floor reached at the last step
};

ScheduleKind parse_schedule(const std::string& name);  // throws advtk::Error
std::string schedule_name(ScheduleKind kind);

// The learning rate for optimizer step `step` (0-based) of a run of `total_steps` steps with
// `steps_per_epoch` steps an epoch.
double learning_rate_at(const ScheduleSettings& schedule, double base_lr, int64_t step,
                        int64_t steps_per_epoch, int64_t total_steps);

}  // namespace advtk
