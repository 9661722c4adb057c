// The attempts of one Slurm job of `driftrun submit`, and its requeue budget
// (DESIGN.md, Executors: Slurm). `driftrun train --slurm` (the batch script's
// srun) keeps <run>/slurm/attempts.jsonl: a "start" line when an attempt
// begins, an "end" line when it ends by itself (done, failed, stopped by a
// signal) and a "requeue" line when it requeued the job.
//
// Causes and budgets, per Slurm job (a new submission starts a new budget):
// - time limit: slurm.signal arrives (sbatch --signal); every rank checkpoints
//   and rank 0 runs `scontrol requeue`, at most slurm.max_requeues times;
// - preemption (and scancel): SIGTERM; every rank checkpoints and exits 0;
//   requeueing is Slurm's decision (PreemptMode=REQUEUE), never limited here;
// - node failure (an attempt that started and never wrote its end): Slurm
//   requeues the job (--requeue); the attempt after the slurm.max_requeues-th
//   such restart refuses to run (exit 5);
// - an application error: the job fails; it is never requeued.
#pragma once

#include <string>

#include "common/status.h"

namespace driftrun {

// What Slurm says about the job this process runs in.
struct SlurmJobEnv {
  bool in_job = false;  // SLURM_JOB_ID is set
  std::string job;      // SLURM_JOB_ID, or "<array job>_<task>" for an array task
  int restart = 0;      // SLURM_RESTART_COUNT
};
SlurmJobEnv SlurmJobFromEnv();

struct AttemptHistory {
  int started = 0;              // attempts of this job that began
  int lost = 0;                 // ... and never wrote their end (a node failure, a killed rank)
  int time_limit_requeues = 0;  // requeues after the time-limit signal
  bool last_lost = false;       // the attempt before this one is lost
};
// The history of job `job` in <run_dir>/slurm/attempts.jsonl (other jobs'
// lines are skipped; an unreadable or torn line counts as nothing).
AttemptHistory ReadAttempts(const std::string& run_dir, const std::string& job);

// Rank 0, before training: refuses (Status Infra naming the budget and what
// to do) a restart after more than max_requeues lost attempts; else appends
// this attempt's "start" line.
Status BeginAttempt(const std::string& run_dir, const SlurmJobEnv& env, int max_requeues);

enum class AttemptEnd { kDone, kFailed, kStopped, kTimeLimit };
// Rank 0, after training: appends the "end" line. For kTimeLimit it then
// requeues the job within the budget (`scontrol requeue`; a "requeue" line),
// or returns Status Infra (exit 5) saying the budget is spent and how to go on.
// *said receives a line for the log either way.
Status EndAttempt(const std::string& run_dir, const SlurmJobEnv& env, AttemptEnd how, int64_t step,
                  int exit_code, int max_requeues, std::string* said);

}  // namespace driftrun
