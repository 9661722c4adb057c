// Clock: where training and (later) the scheduler read time, passed in as an
// option so that tests can use a fake one and never sleep (LevelDB's Env).
//
// Seconds() is monotonic (std::chrono::steady_clock in SteadyClock()); only
// differences between two readings mean anything. Thread-safe.
#pragma once

namespace driftrun {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Seconds() const = 0;
};

// The process's monotonic clock (a static instance; never null).
const Clock& SteadyClock();

}  // namespace driftrun
