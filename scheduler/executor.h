// Executors: where the retraining service's jobs run. One interface, three
// backends (DESIGN.md, Executors): local (an mpirun child process per job,
// local_executor.h), the MPI worker pool (pool_executor.h) and Slurm
// (slurm_executor.h). The service
// only launches, polls and stops jobs through this interface, so a fake
// executor unit-tests its logic without processes.
//
// A job is `driftrun train --config <job config> --run-dir <run dir> --resume
// auto` on `ranks` ranks: launching it again after a crash resumes it from its
// last checkpoint, and a job that already finished trains nothing.
//
// Thread-safety: none; the service's thread owns its executor.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

struct JobLaunch {
  int64_t job = 0;
  std::string config;   // the job's experiment config (a file the service wrote)
  std::string run_dir;  // <state>/jobs/<id>/run
  std::string log;      // stdout and stderr of the job go here (appended)
  int ranks = 1;
};

enum class JobPhase {
  kRunning,
  kExited,  // exit_code holds the job's exit code (DESIGN.md's table; 128+n: killed by signal n)
  kLost,    // the executor does not know the handle (e.g. the service restarted): launch again
};

struct JobPoll {
  JobPhase phase = JobPhase::kLost;
  int exit_code = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  // Starts the job; returns a handle the journal keeps ("pid:1234"). Status
  // Infra (exit 5) when it cannot start.
  virtual Result<std::string> Launch(const JobLaunch& job) = 0;
  virtual JobPoll Poll(const std::string& handle) = 0;
  // Asks the job to checkpoint at its next step and exit 0 (it can be launched
  // again later to continue). Returns at once.
  virtual void Stop(const std::string& handle) = 0;
  // Jobs running now (launched and not yet seen exited by Poll).
  virtual int Running() const = 0;
  // Whether a job of `ranks` ranks could start now (the pool: that many
  // workers are free; a job starts with all its ranks or not at all).
  virtual bool CanStart(int ranks) const { return true; }
  // The most ranks one job can get (the pool's size); 0: no limit known here.
  virtual int Ranks() const { return 0; }
  // What the executor knows of its running jobs beyond the journal (the
  // pool: ranks and heartbeats); null when nothing. Any thread.
  virtual nlohmann::json Snapshot() const { return nullptr; }
  // Whether jobs outlive the service (Slurm): its shutdown leaves them
  // running, and a restart follows them by their handles.
  virtual bool Detached() const { return false; }
};

}  // namespace driftrun
