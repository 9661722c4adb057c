#include "trainers/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace driftrun {
namespace {

TEST(Schedule, WarmupThenConstant) {
  ScheduleOptions o;
  o.lr = 0.1;
  o.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(LearningRate(o, 0, 100), 0.025);
  EXPECT_DOUBLE_EQ(LearningRate(o, 3, 100), 0.1);
  EXPECT_DOUBLE_EQ(LearningRate(o, 50, 100), 0.1);
}

TEST(Schedule, StepDecay) {
  ScheduleOptions o;
  o.kind = "step";
  o.lr = 1.0;
  o.step_every = 10;
  o.step_gamma = 0.5;
  EXPECT_DOUBLE_EQ(LearningRate(o, 9, 100), 1.0);
  EXPECT_DOUBLE_EQ(LearningRate(o, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(LearningRate(o, 25, 100), 0.25);
}

TEST(Schedule, CosineMatchesTorchFormula) {
  ScheduleOptions o;
  o.kind = "cosine";
  o.lr = 1.0;
  o.min_lr = 0.1;
  // torch.optim.lr_scheduler.CosineAnnealingLR closed form, T_max = 100.
  for (int t : {0, 10, 50, 99, 100}) {
    double want = 0.1 + 0.9 * (1 + std::cos(M_PI * t / 100.0)) / 2;
    EXPECT_NEAR(LearningRate(o, t, 100), want, 1e-12) << t;
  }
}

}  // namespace
}  // namespace driftrun
