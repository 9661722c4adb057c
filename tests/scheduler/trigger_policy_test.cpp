// The trigger policy as a pure function: no journal, no clock, no sleeping.
#include "scheduler/trigger_policy.h"

#include <gtest/gtest.h>

namespace driftrun {
namespace {

constexpr double kNow = 1.8e9;  // some Unix time

ScoredBatch B(int64_t id, bool drifted, int64_t rows = 500) {
  return {id, rows, drifted, false};
}

TriggerOptions Opts(int64_t k = 1, int64_t of = 0) {
  TriggerOptions o;
  o.consecutive = k;
  o.of = of;
  return o;
}

TEST(TriggerPolicy, CleanBatchesNeverTrigger) {
  ModelState m;
  m.pending = {B(1, false), B(2, false), B(3, false)};
  TriggerDecision d = DecideTrigger(Opts(), m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kNone);
  EXPECT_EQ(d.drifted, 0);
  EXPECT_NE(d.reason.find("0 of the last 1"), std::string::npos) << d.reason;
}

TEST(TriggerPolicy, OneDriftedBatchQueuesWithTheDefaults) {
  ModelState m;
  m.pending = {B(1, false), B(2, true)};
  TriggerDecision d = DecideTrigger(Opts(), m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kQueue) << d.reason;
  EXPECT_EQ(d.batches, std::vector<int64_t>{2});
}

TEST(TriggerPolicy, ConceptDriftCountsLikeDataDrift) {
  ModelState m;
  m.pending = {{7, 500, false, true}};
  EXPECT_EQ(DecideTrigger(Opts(), m, TriggerKind::kDrift, kNow).action, TriggerAction::kQueue);
}

TEST(TriggerPolicy, SmallBatchesAreSkippedNotCounted) {
  TriggerOptions o = Opts(2);
  o.min_rows = 200;
  ModelState m;
  // Drifted but small batches never count; the two big drifted ones are
  // consecutive among the counted batches.
  m.pending = {B(1, true), B(2, true, 10), B(3, true), B(4, false, 5)};
  TriggerDecision d = DecideTrigger(o, m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kQueue) << d.reason;
  EXPECT_EQ(d.batches, (std::vector<int64_t>{1, 3}));
  m.pending = {B(1, true, 199)};
  EXPECT_EQ(DecideTrigger(Opts(), m, TriggerKind::kDrift, kNow).action, TriggerAction::kNone);
}

TEST(TriggerPolicy, KConsecutiveAndKOfN) {
  ModelState m;
  m.pending = {B(1, true), B(2, false), B(3, true)};
  EXPECT_EQ(DecideTrigger(Opts(2), m, TriggerKind::kDrift, kNow).action, TriggerAction::kNone);
  EXPECT_EQ(DecideTrigger(Opts(2, 3), m, TriggerKind::kDrift, kNow).action, TriggerAction::kQueue);
  m.pending = {B(1, true), B(2, false), B(3, false), B(4, true)};
  TriggerDecision d = DecideTrigger(Opts(2, 3), m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kNone) << "batch 1 left the window of 3";
  EXPECT_EQ(d.window, 3);
  EXPECT_EQ(d.drifted, 1);
}

TEST(TriggerPolicy, AnActiveJobAbsorbsTriggersEvenInCooldown) {
  ModelState m;
  m.pending = {B(5, true)};
  m.active_job = 9;
  m.last_retrain_end = kNow - 1;
  TriggerOptions o = Opts();
  o.cooldown_s = 3600;
  TriggerDecision d = DecideTrigger(o, m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kMerge);
  EXPECT_NE(d.reason.find("job 9"), std::string::npos) << d.reason;
}

TEST(TriggerPolicy, CooldownHoldsUntilItEnds) {
  TriggerOptions o = Opts();
  o.cooldown_s = 600;
  ModelState m;
  m.pending = {B(1, true)};
  m.last_retrain_end = kNow - 100;
  TriggerDecision d = DecideTrigger(o, m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kHold);
  EXPECT_DOUBLE_EQ(d.next_allowed, kNow + 500);
  EXPECT_NE(d.reason.find("cooldown"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("it may queue again in 500 s"), std::string::npos) << d.reason;
  EXPECT_EQ(DecideTrigger(o, m, TriggerKind::kDrift, kNow + 500).action, TriggerAction::kQueue);
  // A person's signal is not held by the cooldown.
  EXPECT_EQ(DecideTrigger(o, m, TriggerKind::kSignal, kNow).action, TriggerAction::kQueue);
}

TEST(TriggerPolicy, DailyBudgetHoldsUntilTheOldestJobLeavesTheDay) {
  TriggerOptions o = Opts();
  o.max_per_day = 2;
  ModelState m;
  m.pending = {B(1, true)};
  m.queued_times_24h = {kNow - 20 * 3600.0, kNow - 3600.0, kNow - 30 * 3600.0};  // the last is too old
  TriggerDecision d = DecideTrigger(o, m, TriggerKind::kDrift, kNow);
  EXPECT_EQ(d.action, TriggerAction::kHold) << d.reason;
  EXPECT_DOUBLE_EQ(d.next_allowed, kNow + 4 * 3600.0);
  EXPECT_EQ(DecideTrigger(o, m, TriggerKind::kSignal, kNow).action, TriggerAction::kHold) << "signals too";
  EXPECT_EQ(DecideTrigger(o, m, TriggerKind::kDrift, kNow + 4 * 3600.0 + 1).action, TriggerAction::kQueue);
  // The first model of a service is never held back.
  EXPECT_EQ(DecideTrigger(o, m, TriggerKind::kInitial, kNow).action, TriggerAction::kQueue);
}

TEST(TriggerPolicy, ABurstOfDriftedBatchesMakesOneJob) {
  // The service's loop in miniature: each new batch is scored, the policy
  // decides, a queue or merge consumes the pending batches.
  TriggerOptions o = Opts();
  o.cooldown_s = 3600;
  ModelState m;
  int queued = 0, merged = 0;
  for (int64_t id = 1; id <= 10; ++id) {
    m.pending.push_back(B(id, true));
    TriggerDecision d = DecideTrigger(o, m, TriggerKind::kDrift, kNow + id);
    if (d.action == TriggerAction::kQueue) {
      ++queued;
      m.active_job = 1;
    }
    if (d.action == TriggerAction::kMerge) ++merged;
    if (d.action == TriggerAction::kQueue || d.action == TriggerAction::kMerge) m.pending.clear();
  }
  EXPECT_EQ(queued, 1);
  EXPECT_EQ(merged, 9);
  m.active_job = 0;  // the job ends; the cooldown starts
  m.last_retrain_end = kNow + 20;
  m.pending = {B(11, true)};
  EXPECT_EQ(DecideTrigger(o, m, TriggerKind::kDrift, kNow + 30).action, TriggerAction::kHold);
}

TEST(TriggerPolicy, OptionsAreValidated) {
  auto cfg = Config::FromString("[trigger]\nconsecutive = 3\nof = 2\n", "t.toml", {});
  ASSERT_TRUE(cfg.ok());
  auto o = TriggerOptions::FromConfig(cfg.value());
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().exit_code(), 2);
  EXPECT_NE(o.status().message().find("trigger.of"), std::string::npos) << o.status().message();
  cfg = Config::FromString("[trigger]\nmax_per_day = 0\n", "t.toml", {});
  ASSERT_TRUE(cfg.ok());
  EXPECT_FALSE(TriggerOptions::FromConfig(cfg.value()).ok());
  cfg = Config::FromString("[trigger]\nconsecutive = 2\nof = 5\n[monitor]\nmin_rows = 10\n", "t.toml", {});
  ASSERT_TRUE(cfg.ok());
  o = TriggerOptions::FromConfig(cfg.value());
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o.value().window(), 5);
  EXPECT_EQ(o.value().min_rows, 10);
}

}  // namespace
}  // namespace driftrun
