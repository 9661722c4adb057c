// The service loop (scheduler/service.h) against a fake executor and a clock
// the test moves, on a real journal: how manual signals become triggers.
#include "scheduler/service.h"

#include <gtest/gtest.h>

#include "tests/scheduler/service_fakes.h"

namespace driftrun {
namespace {

// Found by review: a signal held by the daily budget was recorded as a hold
// and never queued; the retrain asked for was lost. It now waits, pending,
// and is queued once the budget frees.
TEST(Service, ASignalHeldByTheDailyBudgetWaitsAndIsQueuedWhenItFrees) {
  Fixture f;
  f.setup.models[0].trigger.max_per_day = 1;
  f.ctx.max_jobs = 0;  // nothing launches: only the queue is under test
  std::vector<std::string> said;
  f.ctx.say = [&](const std::string& line) { said.push_back(line); };
  JobRecord first = f.Queue();  // spends the day's budget
  ASSERT_TRUE(f.journal->UpdateJob(first, JobState::kRejected, "worse", f.clock.now).ok());
  ASSERT_TRUE(f.journal->AddSignal({0, "m", "new labels", "ann", f.clock.now, 0}).ok());

  Service service(&f.ctx);
  f.clock.now += 3600;
  ASSERT_TRUE(service.Step().ok());
  EXPECT_EQ(f.journal->PendingSignals().value().size(), 1u);
  EXPECT_EQ(f.journal->Jobs("m", 10).value().size(), 1u);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("waits: manual signal; held by the daily budget"), std::string::npos) << said[0];
  EXPECT_NE(said[0].find("it may queue again in 82800 s"), std::string::npos) << said[0];
  ASSERT_TRUE(service.Step().ok());
  EXPECT_EQ(said.size(), 1u) << "said once, not every poll";

  f.clock.now += 82800 + 1;  // the first job leaves the 24 h window
  ASSERT_TRUE(service.Step().ok());
  EXPECT_TRUE(f.journal->PendingSignals().value().empty());
  const std::vector<JobRecord> jobs = f.journal->Jobs("m", 10).value();
  ASSERT_EQ(jobs.size(), 2u);
  const JobRecord& queued = jobs[0].id == first.id ? jobs[1] : jobs[0];
  EXPECT_EQ(queued.state, JobState::kQueued);
  EXPECT_EQ(queued.trigger, "signal");
}

}  // namespace
}  // namespace driftrun
