// The pool executor's master side (scheduler/pool_executor.h) against a fake
// transport and a fake clock: what it sends on launch and stop, how the
// leaders' messages end jobs and free ranks, the heartbeat deadline, a broken
// group, and the bound on kept group communicators.
#include "scheduler/pool_executor.h"

#include <gtest/gtest.h>

#include <deque>

namespace driftrun {
namespace {

class FakeTransport : public PoolTransport {
 public:
  int rank() const override { return 0; }
  int size() const override { return 5; }
  void Send(int to, int tag, const nlohmann::json& body) override { sent.push_back({to, tag, body}); }
  std::optional<PoolMessage> Receive(int from, int tag) override {
    if (inbox.empty()) return std::nullopt;
    PoolMessage m = inbox.front();
    inbox.pop_front();
    return m;
  }
  bool Flush() override { return true; }
  std::vector<PoolMessage> sent;  // source holds the destination
  std::deque<PoolMessage> inbox;
};

class FakeClock : public Clock {
 public:
  double Seconds() const override { return t; }
  double t = 1000;
};

struct Fixture {
  FakeTransport t;
  FakeClock clock;
  PoolExecutor pool;
  explicit Fixture(int max_groups = 8)
      : pool(
            [&] {
              PoolOptions o;
              o.workers = {1, 2, 3, 4};
              o.node_of = {1, 1, 1, 1};
              o.heartbeat_timeout_s = 10;
              o.max_groups = max_groups;
              o.clock = &clock;
              return o;
            }(),
            &t) {}
  Status Pump(int64_t* job = nullptr) {
    int64_t j = 0;
    auto r = pool.Pump(job ? job : &j);
    return r.status();
  }
  void Reply(int from, int tag, nlohmann::json body) { t.inbox.push_back({from, tag, std::move(body)}); }
};

JobLaunch Job(int64_t id, int ranks) {
  return {id, "c.toml", "run", "log", ranks};
}

TEST(PoolExecutor, LaunchSendsTheJobToEachOfItsRanks) {
  Fixture f;
  auto h = f.pool.Launch(Job(7, 2));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.value(), "pool:7:1 ranks 1,2");
  EXPECT_TRUE(f.t.sent.empty()) << "sends belong to the MPI thread's Pump";
  ASSERT_TRUE(f.Pump().ok());
  ASSERT_EQ(f.t.sent.size(), 2u);
  for (const auto& m : f.t.sent) {
    EXPECT_EQ(m.tag, kStart);
    EXPECT_EQ(m.body["ranks"], (std::vector<int>{1, 2}));
    EXPECT_EQ(m.body["config"], "c.toml");
  }
  EXPECT_EQ(f.pool.Poll(h.value()).phase, JobPhase::kRunning);
  EXPECT_EQ(f.pool.Running(), 1);
  EXPECT_TRUE(f.pool.CanStart(2));
  EXPECT_FALSE(f.pool.CanStart(3));
  EXPECT_FALSE(f.pool.Launch(Job(8, 3)).ok()) << "all or nothing";
}

TEST(PoolExecutor, DoneFromTheLeaderEndsTheJobAndFreesItsRanks) {
  Fixture f;
  const std::string h = f.pool.Launch(Job(1, 4)).value();
  ASSERT_TRUE(f.Pump().ok());
  EXPECT_FALSE(f.pool.CanStart(1));
  f.Reply(1, kDone, {{"job", 1}, {"handle", h}, {"code", 4}});
  ASSERT_TRUE(f.Pump().ok());
  EXPECT_TRUE(f.pool.CanStart(4));
  JobPoll p = f.pool.Poll(h);
  EXPECT_EQ(p.phase, JobPhase::kExited);
  EXPECT_EQ(p.exit_code, 4);
  EXPECT_EQ(f.pool.Poll(h).phase, JobPhase::kLost) << "reported once";
  EXPECT_EQ(f.pool.Poll("pool:1:1 ranks 1,2,3,4 (a previous service)").phase, JobPhase::kLost);
}

TEST(PoolExecutor, StopGoesToTheLeaderOnly) {
  Fixture f;
  const std::string h = f.pool.Launch(Job(1, 3)).value();
  ASSERT_TRUE(f.Pump().ok());
  f.t.sent.clear();
  f.pool.Stop(h);
  ASSERT_TRUE(f.Pump().ok());
  ASSERT_EQ(f.t.sent.size(), 1u);
  EXPECT_EQ(f.t.sent[0].source, 1);
  EXPECT_EQ(f.t.sent[0].tag, kStop);
  EXPECT_EQ(f.t.sent[0].body["handle"], h);
}

TEST(PoolExecutor, HeartbeatsKeepAJobAliveAndSilenceEndsTheWorld) {
  Fixture f;
  const std::string h = f.pool.Launch(Job(3, 2)).value();
  ASSERT_TRUE(f.Pump().ok());
  f.clock.t += 8;
  f.Reply(1, kBeat, {{"job", 3}, {"handle", h}, {"step", 120}, {"total_steps", 400}, {"samples_per_s", 5e3}});
  ASSERT_TRUE(f.Pump().ok());
  const nlohmann::json snap = f.pool.Snapshot();
  EXPECT_EQ(snap["busy"], 2);
  EXPECT_EQ(snap["jobs"]["3"]["step"], 120);
  EXPECT_EQ(snap["jobs"]["3"]["ranks"], (std::vector<int>{1, 2}));
  f.clock.t += 9;  // 9 s since the beat: within 10
  ASSERT_TRUE(f.Pump().ok());
  f.clock.t += 2;
  int64_t job = 0;
  Status st = f.Pump(&job);
  EXPECT_EQ(st.code(), Code::kInfra);
  EXPECT_EQ(job, 3);
  EXPECT_NE(st.message().find("job 3 on world ranks 1,2"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("after step 120 of 400"), std::string::npos) << st.message();
}

TEST(PoolExecutor, ABrokenGroupIsFatalAndNamesTheJob) {
  Fixture f;
  const std::string h = f.pool.Launch(Job(5, 2)).value();
  ASSERT_TRUE(f.Pump().ok());
  f.Reply(2, kFatal, {{"job", 5}, {"handle", h}, {"message", "all-reduce did not complete within 3 s"}});
  int64_t job = 0;
  Status st = f.Pump(&job);
  EXPECT_EQ(st.code(), Code::kInfra);
  EXPECT_EQ(job, 5);
  EXPECT_NE(st.message().find("from world rank 2: all-reduce did not complete"), std::string::npos)
      << st.message();
}

TEST(PoolExecutor, KeptGroupsAreBoundedDroppingTheLeastRecentlyUsedIdleOne) {
  Fixture f(/*max_groups=*/2);
  auto run = [&](int64_t id, int ranks) {
    const std::string h = f.pool.Launch(Job(id, ranks)).value();
    f.Reply(1, kDone, {{"job", id}, {"handle", h}, {"code", 0}});
    EXPECT_TRUE(f.Pump().ok());
    f.pool.Poll(h);
  };
  run(1, 1);  // group "1"
  run(2, 2);  // group "1,2"
  run(3, 1);  // "1" again: reused, now the most recent
  f.t.sent.clear();
  run(4, 3);  // "1,2,3": a third group; "1,2" is the least recently used
  std::vector<std::pair<int, std::string>> drops;
  for (const auto& m : f.t.sent)
    if (m.tag == kDrop) drops.push_back({m.source, m.body["key"]});
  EXPECT_EQ(drops, (std::vector<std::pair<int, std::string>>{{1, "1,2"}, {2, "1,2"}}));
  EXPECT_EQ(f.pool.Snapshot()["groups_kept"], 2);
}

}  // namespace
}  // namespace driftrun
