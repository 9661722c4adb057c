// The trigger policy of the retraining service: given what the journal knows
// about one model (its scored batches since the last retrain was queued, its
// jobs) and the time, decide whether a retrain is queued now, merged into the
// model's queued or running job, held back, or not wanted.
//
// A pure function of its arguments (no I/O, no clock reads): the service reads
// the journal, asks, and writes the decision to the journal before acting on
// it; `driftrun replay` asks the same function about past batches. Times are
// Unix seconds (wall clock: cooldowns and the daily budget survive restarts).
//
// Rules, in order, for a drift trigger:
//   1. Batches with fewer than min_rows rows are recorded but never count.
//   2. Of the last `of` counted batches (`of` = 0: `consecutive`), at least
//      `consecutive` drifted (data or concept drift): otherwise no trigger.
//   3. The model has a queued or running job: the trigger merges into it.
//   4. Less than cooldown_s since the model's last retrain ended: held.
//   5. max_per_day retrains were queued in the last 24 h: held.
//   6. Otherwise a job is queued with the model's priority.
// A held trigger leaves its batches counting: the first batch after the hold
// ends re-evaluates them. A queued or merged trigger consumes them (the service
// starts the next window after them).
// A manual signal (driftrun signal) skips rules 1, 2 and 4: it merges into an
// active job or queues one, within the daily budget. An initial job (a model
// with no production version) only merges or queues.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace driftrun {

struct TriggerOptions {
  int64_t min_rows = 200;     // [monitor] min_rows
  int64_t consecutive = 1;    // [trigger] consecutive
  int64_t of = 0;             // [trigger] of (0: consecutive)
  double cooldown_s = 0;      // [trigger] cooldown_s
  int64_t max_per_day = 24;   // [trigger] max_per_day
  double metric_drop = 0.10;  // [trigger] metric_drop (used by the batch check)
  int64_t priority = 0;       // [retrain] priority

  int64_t window() const { return of > 0 ? of : consecutive; }
  // Status::Usage naming the key when a value is out of range.
  static Result<TriggerOptions> FromConfig(const Config& cfg);
};

// One scored batch, as the journal recorded it.
struct ScoredBatch {
  int64_t id = 0;
  int64_t rows = 0;
  bool drifted = false;  // data drift (the dataset flag)
  bool concept = false;  // concept drift (labelled batch, loss rise)
};

struct ModelState {
  // Scored batches not yet consumed by a queued or merged trigger, oldest first.
  std::vector<ScoredBatch> pending;
  int64_t active_job = 0;                // a queued or running job (0: none)
  double last_retrain_end = -1;          // when the last retrain ended (not the initial job; < 0: never)
  std::vector<double> queued_times_24h;  // when each job of the last 24 h was queued
};

enum class TriggerKind { kDrift, kSignal, kInitial };

enum class TriggerAction {
  kNone,   // no trigger (rule 1 or 2)
  kQueue,  // queue a new job
  kMerge,  // merge into ModelState::active_job
  kHold,   // a trigger, held back by the cooldown or the daily budget
};

struct TriggerDecision {
  TriggerAction action = TriggerAction::kNone;
  std::string reason;               // one sentence with the numbers, for the journal
  std::vector<int64_t> batches;     // the batches that make the trigger (drift)
  double next_allowed = 0;          // kHold: when a trigger may queue again
  int64_t drifted = 0, window = 0;  // drifted batches among the last `window` counted
};

TriggerDecision DecideTrigger(const TriggerOptions& o, const ModelState& m, TriggerKind kind, double now);

const char* TriggerActionName(TriggerAction a);  // none | queue | merge | hold
const char* TriggerKindName(TriggerKind k);      // drift | signal | initial

}  // namespace driftrun
