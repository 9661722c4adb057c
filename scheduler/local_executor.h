// The local executor: each job is an `mpirun -np K driftrun train ...` child
// process of the service, its output appended to the job's log.
//
// Stopping relays SIGUSR1 to mpirun, which forwards it to every rank (Open MPI
// 4): they checkpoint at the next step and exit 0. The child also gets SIGUSR1
// when the service dies (prctl PR_SET_PDEATHSIG), even by kill -9, so a job
// never outlives its service unsupervised: it checkpoints, and the restarted
// service launches it again to continue (its handle is then kLost).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "scheduler/executor.h"

namespace driftrun {

struct LocalExecutorOptions {
  std::string driftrun;  // the driftrun executable (absolute)
  std::string mpirun = "mpirun";
  // Extra mpirun arguments before the program (default: --bind-to none, so
  // that jobs on one machine do not pin to the same cores).
  std::vector<std::string> mpirun_args = {"--bind-to", "none"};
};

class LocalExecutor : public Executor {
 public:
  explicit LocalExecutor(LocalExecutorOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "local"; }
  Result<std::string> Launch(const JobLaunch& job) override;
  JobPoll Poll(const std::string& handle) override;
  void Stop(const std::string& handle) override;
  int Running() const override { return static_cast<int>(children_.size()); }

  // The command line Launch runs (for the log and --dry-run).
  std::vector<std::string> Command(const JobLaunch& job) const;

 private:
  LocalExecutorOptions o_;
  std::map<pid_t, int64_t> children_;  // running child → job
};

}  // namespace driftrun
