// The retraining service's jobs, one state change at a time:
//   queued → running (its config written once, launched through the executor)
//   running → trained (the run's summary says done), or relaunched (the service
//     restarted, the job was stopped, an infrastructure failure below the
//     attempt limit), or failed (exit 2, 3, 4: the reason is the log's last line)
//   trained → evaluated (champion vs challenger: scheduler/evaluation.h)
//   evaluated → registered (RegisterRun, idempotent: a restart never registers twice)
//   registered → promoted | rejected (the verdict; retrain.promote = "approval"
//     or a policy requiring approval waits for `driftrun registry approve`, and
//     the registry's gate has the last word).
// Each change is in the journal before the action it announces, so a service
// killed at any moment redoes at most the step it was in, and every step is
// idempotent.
//
// Thread-safety: none (the service's thread).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "scheduler/batch_score.h"
#include "scheduler/executor.h"
#include "scheduler/journal.h"
#include "scheduler/service_setup.h"

namespace driftrun {

// The production version of each model, reloaded when its number changes.
class ProductionCache {
 public:
  // Never null on success; version 0 when the model has none.
  Result<const Production*> Get(const ModelEntry& m);

 private:
  std::map<std::string, std::unique_ptr<Production>> cache_;
};

struct ServiceContext {
  const ServiceSetup* setup = nullptr;
  Journal* journal = nullptr;
  Executor* executor = nullptr;
  const Clock* clock = nullptr;  // wall clock (Unix seconds)
  ProductionCache production;
  std::function<void(const std::string&)> say;  // one line to the service's log
  int64_t max_jobs = 1;
  int max_ranks = 0;           // > 0: the executor's ranks (retrain.ranks is capped to it)
  bool stopping = false;       // shutting down: launch nothing, stop what runs
  bool queue_blocked = false;  // this pass: a queued job could not start, so none behind it starts
  std::set<std::string> stop_sent;
};

constexpr int64_t kMaxJobAttempts = 3;  // launches that fail with an infrastructure error

// Moves job `j` on as far as it can go now. An error is an infrastructure
// failure of the service itself (journal, registry locked): retried next poll.
Status AdvanceJob(ServiceContext& ctx, JobRecord j);

}  // namespace driftrun
