// Train: data-parallel training of one model over the ranks of `world`.
//
// Every rank calls Train with the same Config. Rank 0 owns the run folder
// (config.resolved.toml, events.jsonl, metrics.jsonl, summary.json,
// checkpoints/); each rank reads only its rows of the HDF5 data. On CUDA the
// gradient all-reduce runs over an NCCL communicator made from `world`; on CPU
// over `world` itself.
//
// Failures come back as Status with the DESIGN.md exit code: bad config 2, bad
// data 3, NaN/Inf loss 4 (no checkpoint of the bad state), MPI/NCCL/disk 5. All
// ranks return the same code; only the rank that saw the problem has a message.
// When *stop is set (SIGTERM/SIGUSR1 on any rank), all ranks agree at the next
// step boundary, write a checkpoint and return OK with stopped = true.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "comm/communicator.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/file_lock.h"
#include "common/status.h"

namespace driftrun {

// Test hooks: on `rank`, just before step `signal_at_step` runs, call `fire`
// (default: raise SIGTERM, as if an operator had sent it); before step
// `sleep_at_step`, sleep `sleep_s` seconds outside MPI (a hung rank, for the
// collective deadline). -1: never. The CLI fills it from DRIFTRUN_FAULT_* (see
// cmd_train.cpp); nothing in trainers/ reads the environment.
struct FaultInjection {
  int64_t signal_at_step = -1;
  int64_t sleep_at_step = -1;
  double sleep_s = 0;
  int rank = -1;               // -1: the last rank
  std::function<void()> fire;  // null: std::raise(SIGTERM)
};

// Where a run is, after each optimizer step (TrainRequest::on_step).
struct StepProgress {
  int64_t step = 0;          // steps done (across resumes)
  int64_t total_steps = 0;   // the run ends at this step
  int64_t epoch = 0;         // 0-based
  double loss = 0;           // the step's global mean loss
  double step_s = 0;         // wall seconds of this step (forward to optimizer)
  double allreduce_s = 0;    // of which waiting for collectives (gradients, loss): not overlapped
  double compute_s = 0;      // of which forward and backward
  double optimizer_s = 0;    // of which the optimizer update
  double samples_per_s = 0;  // global samples/s over the current epoch so far
};

// Makes (or hands back a kept) device communicator for the ranks of the
// world Train runs on: the pool executor keeps one NCCL communicator per rank
// group (scheduler/pool_worker.h). Collective like NcclCommunicator::Create.
using DeviceCommFactory = std::function<Result<Communicator*>(int device, void* stream, double timeout_s)>;

struct TrainRequest {
  std::string config_path;  // for messages ("resume with ...")
  std::string run_dir;      // "" → runs/<name>-<YYYYmmdd-HHMMSS>
  std::string resume;       // "" | "auto" | a run folder or checkpoint path
  bool overwrite = false;   // a run_dir that holds a run is deleted and started over
  // Resuming with a config that differs from the run's config.resolved.toml is
  // refused (Status::Usage naming each key) unless this is set; then the
  // change is recorded in events.jsonl.
  bool allow_config_change = false;
  // How this run was started, without --run-dir and --resume (e.g. "mpirun -np
  // 2 driftrun train --config x.toml --set train.epochs=9"): the stop message
  // appends them to say how to resume. "" : "driftrun train --config FILE".
  std::string command;
  // The whole command to resume, said as is when set (a Slurm job's: submit
  // the folder again).
  std::string resume_command;
  const std::atomic<int>* stop = nullptr;
  bool progress_bar = false;  // rank 0 draws a bar (stdout is a terminal)
  bool quiet = false;         // no per-epoch console lines
  std::string code_version;
  FaultInjection fault;
  // Keep autograd's backward for MLPs too (the hand-written one, direct_mlp.h,
  // gives the same gradients faster): for benchmarks and debugging.
  bool autograd_step = false;
  // Read each step's loss while the next step runs (step_loop.cpp): -1 on CUDA
  // only (the default), 0 never, 1 always (tests run it on the CPU).
  int step_pipeline = -1;
  const Clock* clock = nullptr;  // null: SteadyClock()
  // This process's rank and rank count on its node (GPU choice, default thread
  // count); 0 local_size: unknown, taken as the world size.
  int local_rank = 0;
  int local_size = 0;
  // Called on every rank after each optimizer step, on the thread running
  // Train, outside any collective (the pool's heartbeat and stop check). It
  // may set *stop; it must not call collectives on `world`.
  std::function<void(const StepProgress&)> on_step;
  // Rank 0: when the run starts (its folder decided and claimed; `resuming`
  // when it continues a checkpoint) and after each epoch's metrics.jsonl row.
  // For observers (MLflow tracking): they must not block.
  std::function<void(const std::string& run_dir, bool resuming)> on_start;
  std::function<void(const nlohmann::json& row)> on_epoch;
  // null: Train makes its own NCCL communicator on GPUs (and frees it).
  DeviceCommFactory device_comm;
};

struct TrainResult {
  std::string run_dir;
  std::string last_checkpoint;
  int64_t steps = 0;
  bool stopped = false;  // by signal
  // Resumed a run that had already finished (its summary.json says done at the
  // checkpoint's step): nothing was trained or written.
  bool already_finished = false;
  // Rank 0: the run folder's lock (run.lock), held until this is destroyed, so
  // that export and registration after training still own the folder.
  std::shared_ptr<FileLock> run_lock;
  double val_loss = 0;
  double val_metric = 0;
};

Result<TrainResult> Train(Communicator& world, const Config& cfg, const TrainRequest& req);

}  // namespace driftrun
