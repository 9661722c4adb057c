// The pool executor: the retraining service's jobs run on the worker ranks of
// the service's own MPI world (`mpirun -np N driftrun serve --executor pool`):
// world rank 0 is the master, ranks 1..N-1 a resident worker pool
// (scheduler/pool_worker.h) that trains without starting a process.
//
// The service's thread calls the Executor interface (Launch, Poll, Stop); the
// thread that owns MPI calls Pump() in a loop, which sends what the service
// asked for, takes the job leaders' messages, and watches their heartbeats.
// The two meet under one mutex, so a slow evaluation or registry in the
// service's thread never delays a heartbeat.
//
// A job gets its ranks all at once (scheduler/placement.h) and keeps them
// until its leader reports it done. Each distinct group of ranks gets one
// communicator on the workers, kept for the next job on the same group; at
// most `max_groups` are kept (the least recently used idle one is dropped).
//
// Handles are "pool:<job>:<n> ranks <r,...>": a restarted service knows none of them, so
// its jobs are kLost and launched again (they resume from their checkpoint).
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "scheduler/executor.h"
#include "scheduler/placement.h"
#include "scheduler/pool_transport.h"

namespace driftrun {

struct PoolOptions {
  std::vector<int> workers;  // world ranks of the pool
  std::vector<int> node_of;  // their nodes (same order)
  double heartbeat_timeout_s = 60;
  int max_groups = 8;
  const Clock* clock = nullptr;  // null: WallClock()
};

class PoolExecutor : public Executor {
 public:
  PoolExecutor(PoolOptions o, PoolTransport* transport);

  // ---- Executor (the service's thread)
  std::string name() const override { return "pool"; }
  Result<std::string> Launch(const JobLaunch& job) override;
  JobPoll Poll(const std::string& handle) override;
  void Stop(const std::string& handle) override;
  int Running() const override;
  bool CanStart(int ranks) const override;
  int Ranks() const override { return static_cast<int>(o_.workers.size()); }

  // ---- the MPI thread
  // One pass; true when something happened (else the caller may nap). A
  // Status Infra names the job, its ranks and what went wrong when a job's
  // group broke (a collective past its deadline) or its leader fell silent
  // for heartbeat_timeout_s: the world cannot go on (the caller records it
  // and ends the world with exit 5). *job: that job's id.
  Result<bool> Pump(int64_t* job);
  // Tells every worker to exit, and waits (up to timeout_s) for the sends.
  void Shutdown(double timeout_s);
  // Workers busy and idle, and per running job: ranks, step, samples/s,
  // step and all-reduce time, seconds since its last heartbeat.
  nlohmann::json Snapshot() const override;

 private:
  struct PoolJob {
    int64_t job = 0;
    std::vector<int> ranks;
    std::string key;
    double started = 0, last_beat = 0;
    bool exited = false;
    int code = 0;
    nlohmann::json progress = nlohmann::json::object();
  };
  struct Outgoing {
    int to, tag;
    nlohmann::json body;
  };
  std::string KeepGroup(const std::vector<int>& ranks);  // the key; queues drops beyond max_groups
  Status OnMessage(const PoolMessage& m, int64_t* job);
  Status CheckHeartbeats(double now, int64_t* job);
  double Now() const { return o_.clock->Seconds(); }

  PoolOptions o_;
  PoolTransport* t_;
  mutable std::mutex mu_;
  Placement placement_;
  std::map<std::string, PoolJob> jobs_;       // handle → job (until Poll saw it end)
  std::map<std::string, int64_t> groups_;     // kept group key → last use (a counter)
  std::map<std::string, int> groups_in_use_;  // key → running jobs on it
  std::map<std::string, std::vector<int>> group_ranks_;
  std::vector<Outgoing> outbox_;
  int64_t launches_ = 0, uses_ = 0;
};

}  // namespace driftrun
