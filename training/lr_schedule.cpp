#include "training/lr_schedule.h"

#include <cmath>

#include "core/error.h"

namespace advtk {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "step") return ScheduleKind::Step;
  if (name == "cosine") return ScheduleKind::Cosine;
  throw Error("--schedule: expected constant, step or cosine, got '" + name + "'");
}

std::string schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Constant:
      return "constant";
    case ScheduleKind::Step:
      return "step";
    case ScheduleKind::Cosine:
      return "cosine";
  }
  return "?";
}

double learning_rate_at(const ScheduleSettings& s, double base_lr, int64_t step,
                        int64_t steps_per_epoch, int64_t total_steps) {
  ADVTK_CHECK(s.warmup_epochs >= 0, "--warmup: expected >= 0 epochs, got ", s.warmup_epochs);
  ADVTK_CHECK(s.gamma > 0, "--gamma: expected a positive factor, got ", s.gamma);
  const auto warmup_steps = static_cast<int64_t>(std::llround(s.warmup_epochs * steps_per_epoch));
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / warmup_steps;
  switch (s.kind) {
    case ScheduleKind::Constant:
      return base_lr;
    case ScheduleKind::Step: {
      const double total_epochs = static_cast<double>(total_steps) / steps_per_epoch;
      const double every = s.step_epochs > 0 ? s.step_epochs : std::max(1.0, total_epochs / 3);
      const auto every_steps = std::max<int64_t>(1, std::llround(every * steps_per_epoch));
      return base_lr * std::pow(s.gamma, static_cast<double>(step / every_steps));
    }
    case ScheduleKind::Cosine: {
      const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps - 1);
      const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
      return s.min_lr + 0.5 * (base_lr - s.min_lr) * (1 + std::cos(M_PI * t));
    }
  }
  return base_lr;
}

}  // namespace advtk
