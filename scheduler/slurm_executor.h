// The Slurm executor (DESIGN.md, Executors): each retraining job is an sbatch
// job running `srun driftrun train --config <job config> --run-dir <run>
// --resume auto --slurm` (the script of slurm_script.h, its resources from the
// model config's [slurm] section, --ntasks = the job's ranks). The service's
// master holds no GPU and may run on a login node.
//
// Jobs are followed with `squeue` and `scontrol show job` (no sacct: the
// cluster may have no accounting). One squeue call answers for all jobs, at
// most once per query interval. COMPLETING, REQUEUED, PREEMPTED (and every
// other state that is not final) count as running; a state this code does not
// know is "unknown" and also waits, never a crash. Jobs outlive the service:
// its shutdown leaves them running and a restart follows them by job id (the
// handle "slurm:<id>" in the journal).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "scheduler/executor.h"

namespace driftrun {

struct SlurmExecutorOptions {
  std::string driftrun;  // the driftrun executable (absolute), as the compute nodes see it
  std::string workdir;   // the jobs' working directory (absolute)
  double query_interval_s = 2.0;
  const Clock* clock = nullptr;  // SteadyClock() when null
};

// A Slurm job state as the service sees it: the poll, and for a final state
// its exit code. `exit_field` is scontrol's ExitCode ("N:S"). Pure, for tests.
JobPoll SlurmPoll(const std::string& state, const std::string& exit_field);
// Whether `state` is final (the job will not run again by itself).
bool SlurmStateFinal(const std::string& state);
// One job's state from squeue ("PENDING", "RUNNING", ...); "" when squeue
// does not know the job or cannot be run.
std::string SlurmJobState(const std::string& id);

// Slurm's jobs not yet ended whose batch script lies in `run_dir`/slurm/
// (squeue's command path): {id, state}. Empty when there are none or squeue
// cannot be asked. Found by a stranger: a submit killed while sbatch ran
// queued a job that jobs.jsonl never recorded, and a second job was queued.
std::vector<std::pair<std::string, std::string>> SlurmJobsOfFolder(const std::string& run_dir);

class SlurmExecutor : public Executor {
 public:
  explicit SlurmExecutor(SlurmExecutorOptions o);
  std::string name() const override { return "slurm"; }
  Result<std::string> Launch(const JobLaunch& job) override;
  JobPoll Poll(const std::string& handle) override;
  // scancel --signal=TERM: every rank checkpoints and the job exits 0 (a
  // pending job is cancelled).
  void Stop(const std::string& handle) override;
  int Running() const override;
  bool Detached() const override { return true; }
  nlohmann::json Snapshot() const override;

 private:
  void Refresh();
  std::string FinalState(const std::string& id, std::string* exit_field);

  SlurmExecutorOptions o_;
  std::map<std::string, std::string> states_;  // job id → last known state (live jobs)
  double refreshed_at_ = -1e300;
};

}  // namespace driftrun
