// The batch script of `driftrun submit` (DESIGN.md, Executors: Slurm): the
// job's resources as #SBATCH lines, then `srun driftrun train --config
// <resolved copy> --run-dir <run folder> --resume auto --slurm`.
//
// Nothing from a config or a flag can run as shell: every value is validated
// against what Slurm accepts for it (a time is a Slurm time, a partition a
// Slurm name, counts are numbers), and every path is single-quoted; a path
// with a control character (a newline would end a line of the script) is
// refused. Paths never appear in #SBATCH lines (sbatch parses those itself):
// the script redirects its own output into the run folder.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace driftrun {

struct SlurmOptions {
  int nodes = 1;
  int ntasks_per_node = 1;
  int ntasks = 0;  // > 0: --ntasks=N (Slurm places them) instead of --nodes and --ntasks-per-node
  int gpus_per_node = 0;
  int cpus_per_task = 1;
  std::string time;  // "" = the partition's default
  std::string partition, account, qos;
  int signal_before_s = 120;
  std::string signal = "USR1";  // USR1 | USR2: the time-limit warning
  int max_requeues = 3;
  std::string mpi = "pmix";  // srun --mpi
  std::string job_name = "driftrun";
  // A job array (a sweep): tasks 0..array_size-1 train trial task + array_offset
  // in <run_dir>/trial-<n>/ with <run_dir>/trial-<n>/slurm/config.toml.
  int array_size = 0;
  int array_offset = 0;
  int max_parallel = 0;  // --array=...%max_parallel; 0: no limit
};

// The [slurm] keys of a resolved config.
SlurmOptions SlurmOptionsFromConfig(const Config& cfg);
// Status::Usage naming the key or flag (`source` says which: "--time" or
// "slurm.time") for a value Slurm would not accept or that could break the script.
Status ValidateSlurmOptions(const SlurmOptions& o);

// A Slurm time limit in seconds ("MM", "MM:SS", "HH:MM:SS", "D-HH",
// "D-HH:MM", "D-HH:MM:SS"); -1 when `t` is not one; 0 for "", "0",
// "UNLIMITED" and "INFINITE" (no limit).
int64_t SlurmTimeSeconds(const std::string& t);

struct BatchPaths {
  std::string driftrun;  // absolute path of the driftrun executable
  std::string config;    // the resolved config copy, absolute
  std::string run_dir;   // absolute
  std::string workdir;   // the job's working directory, absolute
  std::string log;       // "": <run_dir>/slurm/logs/<job>.<restart>.log; else every attempt appends here
  std::string script;    // where the script is written (for its comment); "": <run_dir>/slurm/job.sbatch
};
// Status::Usage when a path holds a control character.
Status ValidateBatchPaths(const BatchPaths& p);

// The script's text. Its output goes to <run_dir>/slurm/logs/<job>.<restart>.log
// (array tasks: <array job>_<task>.<restart>.log).
std::string RenderBatchScript(const SlurmOptions& o, const BatchPaths& p);

// `sbatch --parsable [extra...] script`: the job id, or Status::Infra with
// sbatch's message (and a hint when Slurm is not installed).
Result<std::string> Sbatch(const std::string& script, const std::vector<std::string>& extra = {});
// The cluster's MaxArraySize (`scontrol show config`); 1001, Slurm's default,
// when it cannot be read.
int MaxArraySize();

}  // namespace driftrun
