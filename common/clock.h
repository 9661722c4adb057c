// Clock: where training and (later) the scheduler read time, passed in as an
// option so that tests can use a fake one and never sleep (LevelDB's Env).
//
// SteadyClock() is monotonic (std::chrono::steady_clock): only differences
// between two readings mean anything. WallClock() is Unix time (seconds since
// 1970, system_clock): what the retraining service's journal records, so that
// cooldowns and daily budgets survive a restart. Thread-safe.
#pragma once

namespace driftrun {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Seconds() const = 0;
};

// The process's monotonic clock (a static instance; never null).
const Clock& SteadyClock();
// Unix time in seconds (a static instance; never null).
const Clock& WallClock();

}  // namespace driftrun
