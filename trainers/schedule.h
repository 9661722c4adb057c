// Learning-rate schedules: linear warm-up, then constant, step or cosine decay.
// Pure function of the step, so a resumed run continues the same curve.
#pragma once

#include <cstdint>
#include <string>

namespace driftrun {

struct ScheduleOptions {
  std::string kind = "constant";  // constant | step | cosine
  double lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t step_every = 1000;
  double step_gamma = 0.1;
  double min_lr = 0.0;
};

// Learning rate for optimizer step `step` (0-based) of `total_steps`.
double LearningRate(const ScheduleOptions& o, int64_t step, int64_t total_steps);

}  // namespace driftrun
