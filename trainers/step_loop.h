// The data-parallel step loop: epochs of global batches, each rank training on
// the rows of every batch that fall in its shard, gradients all-reduced, one
// small all-reduce per step for the loss and any stop request, validation and
// a metrics row at each epoch end, interval checkpoints. On CUDA (or with
// Session::step_pipeline = 1) a step's loss is read after the next step is
// launched, so the host never waits for the device between steps; results
// equal the waiting loop's, a stop request is honoured one step later.
//
// Collective: every rank of s.world calls RunStepLoop with the same plan.
// Returns OK with state->stopped set when a stop was requested on any rank (all
// ranks stop after the same step); Status::Training on a NaN/Inf loss (no
// checkpoint of that state is written). Internal to trainers/ (LibTorch).
#pragma once

#include <atomic>
#include <cmath>
#include <functional>

#include "common/clock.h"
#include "trainers/train_reporter.h"
#include "trainers/train_session.h"
#include "trainers/trainer.h"

namespace driftrun {

struct LoopPlan {
  int64_t batches = 0;      // global batches per epoch
  int64_t total_steps = 0;  // the run ends after this step
  int64_t epochs = 0;       // planned (for messages)
  double loss_denom = 1;    // global batch elements: the loss is a sum divided by it
};

// Where one optimizer step's time went, on this rank.
struct StepTimes {
  double data_s = 0;       // getting the batch: a gather from memory, or waiting for a streamed window
  double compute_s = 0;    // forward, backward (all-reduces launched from it overlap)
  double allreduce_s = 0;  // waiting for collectives: gradient buckets and the loss (not overlapped)
  double optimizer_s = 0;  // gradient clipping and the optimizer update
  void Add(const StepTimes& t) {
    data_s += t.data_s;
    compute_s += t.compute_s;
    allreduce_s += t.allreduce_s;
    optimizer_s += t.optimizer_s;
  }
};

struct LoopState {
  LoopPosition at;  // where the loop is; the resume point on entry
  bool stopped = false;
  Eval last_eval;
  double last_epoch_train_loss = NAN;  // mean training loss of the last finished epoch
  double train_seconds = 0;            // time spent inside epochs by this process
  int64_t steps_run = 0;               // optimizer steps run by this process (not before a resume)
  StepTimes step_times;                // summed over steps_run
  int64_t replica_checks = 0;
};

struct LoopHooks {
  // Collective: writes a checkpoint of the current weights at position `at`.
  std::function<Status(const LoopPosition& at)> save;
  TrainReporter* report = nullptr;
  const std::atomic<int>* stop = nullptr;            // set by a signal handler
  std::function<void(const StepProgress&)> on_step;  // TrainRequest::on_step
  FaultInjection fault;
  const Clock* clock = nullptr;  // null: SteadyClock()
  double start_s = 0;            // clock reading at the start of the run (wall_s)
};

// The plan for s.o and s.train_rows: batches per epoch, total steps (max_steps
// or epochs), planned epochs and the loss normaliser.
LoopPlan MakeLoopPlan(const Session& s);

// Mean milliseconds per step from summed times over `steps` steps that took `secs`.
StepMsReport StepMs(const StepTimes& t, int64_t steps, double secs);

Status RunStepLoop(Session& s, const LoopPlan& plan, const LoopHooks& hooks, LoopState* state);

// Whether RunStepLoop reads each step's loss after launching the next step:
// Session::step_pipeline, or on CUDA when it is -1 (summary.json `step_pipelined`).
bool StepPipelined(const Session& s);

}  // namespace driftrun
