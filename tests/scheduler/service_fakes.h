// Fakes for unit-testing the service's logic (scheduler/job_driver.h,
// scheduler/service.h): an executor that records launches and replays exit
// results, a clock the test sets, and a fixture with one model "m" on a real
// journal in a fresh folder.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "scheduler/batch_score.h"
#include "scheduler/job_driver.h"
#include "tests/common/test_paths.h"

namespace driftrun {

class FakeExecutor : public Executor {
 public:
  std::string name() const override { return "fake"; }
  Result<std::string> Launch(const JobLaunch& job) override {
    launches.push_back(job);
    const std::string h = "fake:" + std::to_string(launches.size());
    running[h] = true;
    return h;
  }
  JobPoll Poll(const std::string& handle) override {
    JobPoll p;
    if (!running.count(handle)) return p;  // kLost
    if (results.empty()) {
      p.phase = JobPhase::kRunning;
      return p;
    }
    p = results.front();
    results.pop_front();
    if (p.phase == JobPhase::kExited) running.erase(handle);
    return p;
  }
  void Stop(const std::string& handle) override { stops.push_back(handle); }
  int Running() const override { return static_cast<int>(running.size()); }

  std::vector<JobLaunch> launches;
  std::map<std::string, bool> running;
  std::deque<JobPoll> results;
  std::vector<std::string> stops;
};

class FakeClock : public Clock {
 public:
  double Seconds() const override { return now; }
  double now = 1.8e9;
};

inline JobPoll Exited(int code) {
  JobPoll p;
  p.phase = JobPhase::kExited;
  p.exit_code = code;
  return p;
}

struct Fixture {
  Fixture() {
    dir = FreshTestDir();
    ModelEntry m;
    m.name = "m";
    m.cfg = Config::Load(
                "", {"name=m", "data.train=\"" + dir + "/train.h5\"", "registry.path=\"" + dir + "/reg\""})
                .take();
    m.registry = dir + "/reg";
    m.ranks = 4;
    m.batch_size = 64;
    setup.cfg = Config::Load("", {}).take();  // the defaults: [service] as a user's empty file
    setup.state = dir + "/state";
    setup.models.push_back(m);
    journal = Journal::Open(dir + "/journal.db", true).take();
    ctx.setup = &setup;
    ctx.journal = journal.get();
    ctx.executor = &exec;
    ctx.clock = &clock;
    ctx.max_ranks = 2;
  }
  JobRecord Queue() {
    JobRecord j;
    j.model = "m";
    j.queued_at = clock.Seconds();
    j.trigger = "signal";
    j.id = journal->AddJob(j).value();
    return journal->Job(j.id).value();
  }
  // A labelled batch scored with `bytes` at dir/name, its copy kept when `keep`.
  BatchRecord ScoredBatch(const std::string& name, const std::string& bytes, bool keep = true,
                          int64_t rows = 0) {
    BatchRecord b;
    b.model = "m";
    b.rows = rows;
    b.file = dir + "/" + name;
    b.labelled = true;
    b.decision = "scored";
    EXPECT_TRUE(WriteFileAtomic(b.file, bytes).ok());
    b.sha256 = Sha256File(b.file).value();
    if (keep) {
      EXPECT_TRUE(KeepBatch(setup.state, b).ok());
    }
    b.id = journal->AddBatch(b).value();
    return b;
  }
  // An unlabelled batch, scored (what a drift in unlabelled data triggers on).
  BatchRecord UnlabelledBatch() {
    BatchRecord u;
    u.model = "m";
    u.file = dir + "/unlabelled.h5";
    u.sha256 = "u";
    u.decision = "scored";
    u.id = journal->AddBatch(u).value();
    return u;
  }
  JobRecord Step(int64_t id) {
    EXPECT_TRUE(AdvanceJob(ctx, journal->Job(id).value()).ok());
    return journal->Job(id).value();
  }
  std::string dir;
  ServiceSetup setup;
  std::unique_ptr<Journal> journal;
  FakeExecutor exec;
  FakeClock clock;
  ServiceContext ctx;
};

}  // namespace driftrun
