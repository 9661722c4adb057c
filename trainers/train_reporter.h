// TrainReporter: everything a training run tells people and scripts. The
// console (rank 0: a start line, a progress bar when stdout is a terminal, one
// line per epoch, the stop hint and the done line) and the run folder's
// events.jsonl and metrics.jsonl (through RunLog, rank 0 only). No LibTorch.
//
// Every rank holds one and calls it at the same points; ranks other than 0
// print and write nothing. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "trainers/run_log.h"

namespace driftrun {

struct TrainReporterOptions {
  int rank = 0;
  bool quiet = false;         // no start, epoch and done lines
  bool progress_bar = false;  // draw a bar (stdout is a terminal)
  int64_t log_every_steps = 0;
  const Clock* clock = nullptr;  // null: SteadyClock()
  // Rank 0, after each metrics.jsonl row is written (TrainRequest::on_epoch).
  std::function<void(const nlohmann::json& row)> on_epoch;
};

// Mean milliseconds per optimizer step on rank 0, and where they went.
struct StepMsReport {
  int64_t steps = 0;  // 0: nothing measured
  double total = 0;   // wall time per step, logging and progress included
  double data = 0;    // getting the batch (waits for a streamed window included)
  double compute = 0;
  double allreduce = 0;  // exposed (not overlapped) collective time
  double optimizer = 0;
};
nlohmann::json StepMsJson(const StepMsReport& r);

struct EpochReport {
  int64_t epoch = 0;   // 0-based here; 1-based on the console and in metrics.jsonl
  int64_t epochs = 0;  // planned
  int64_t step = 0;
  double train_loss = 0;
  double val_loss = 0;    // NaN: no validation rows
  double val_metric = 0;  // NaN: no validation rows
  const char* metric_name = "rmse";
  double samples_per_s = 0;
  double lr = 0;
  double wall_s = 0;
  bool partial = false;  // the run ended inside this epoch
  StepMsReport step_ms;
};

class TrainReporter {
 public:
  TrainReporter(RunLog log, TrainReporterOptions o);
  const RunLog& log() const { return log_; }

  // "start" or "resume" event with `fields`, and the console's start lines.
  void Start(bool resuming, const nlohmann::json& fields, const std::string& console_line,
             const std::string& resumed_from, int64_t step);
  // After each optimizer step: a "step" event every log_every_steps, and the bar
  // (redrawn at most every 0.1 s).
  void Step(int64_t step, int64_t epoch, double loss, double lr);
  void Progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss, double sps);
  // One metrics.jsonl row and the console's epoch line. The write's Status is
  // for the caller to agree on across ranks.
  Status Epoch(const EpochReport& e);
  void Checkpoint(int64_t step, const std::string& path, double seconds);
  // `step`: the steps done when it was seen, counted as in the message (1-based).
  void NonFiniteLoss(int64_t step, int64_t epoch);
  // Stopped by a signal: event, and (even when quiet) how to resume: the
  // whole command, ranks and overrides included.
  void Stopped(int64_t step, const std::string& checkpoint, const std::string& resume_command);
  void Done(int64_t step, double wall_s, const std::string& run_dir);

 private:
  bool console() const { return o_.rank == 0 && !o_.quiet; }
  RunLog log_;
  TrainReporterOptions o_;
  double last_draw_ = 0;
  bool bar_drawn_ = false;
};

}  // namespace driftrun
