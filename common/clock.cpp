#include "common/clock.h"

#include <chrono>

namespace driftrun {
namespace {

class Steady : public Clock {
 public:
  double Seconds() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

class Wall : public Clock {
 public:
  double Seconds() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace

const Clock& SteadyClock() {
  static const Steady clock;
  return clock;
}

const Clock& WallClock() {
  static const Wall clock;
  return clock;
}

}  // namespace driftrun
