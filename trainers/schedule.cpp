#include "trainers/schedule.h"

#include <algorithm>
#include <cmath>

namespace driftrun {

double LearningRate(const ScheduleOptions& o, int64_t step, int64_t total_steps) {
  if (step < o.warmup_steps) {
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  }
  const int64_t t = step - o.warmup_steps;
  if (o.kind == "step") {
    return o.lr * std::pow(o.step_gamma, static_cast<double>(t / std::max<int64_t>(1, o.step_every)));
  }
  if (o.kind == "cosine") {
    const double span = static_cast<double>(std::max<int64_t>(1, total_steps - o.warmup_steps));
    const double progress = std::min(1.0, static_cast<double>(t) / span);
    return o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return o.lr;
}

}  // namespace driftrun
