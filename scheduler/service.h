// The retraining service's loop (driftrun serve), one pass per Step():
//   1. manual signals (driftrun signal) become triggers, or stop a job
//      (driftrun signal --stop JOB);
//   2. a model without a production version gets its initial job (once);
//   3. each model's new batches (monitor.incoming, oldest first) are scored
//      against its production version, recorded with the trigger policy's
//      decision in one journal transaction, and a queued trigger becomes a job;
//      a file the model cannot take goes to <state>/quarantine/<model>/ with a
//      .reason file; batches wait while the model has no production version;
//   4. every job moves on (scheduler/job_driver.h).
// Everything is written to the journal before it is acted on; a restarted
// service continues from the journal (see scheduler/journal.h).
//
// Thread-safety: none; one service per state folder (the caller holds its lock).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "scheduler/job_driver.h"

namespace driftrun {

// Asks the trigger policy about `kind` for model `m` at `now` and records its
// decision (and the job a queue decision adds) in the caller's open
// transaction; up_to_batch: a drift trigger's newest batch (the batches it
// consumes). Returns one line saying what happened. `driftrun replay` records
// into a journal in memory through the same function.
struct TriggerOutcome {
  std::string action = "none";  // none | queue | merge | hold
  std::string line;
  int64_t trigger = 0, job = 0;
};
Result<TriggerOutcome> RecordTrigger(Journal& jn, const ModelEntry& m, TriggerKind kind, int64_t up_to_batch,
                                     const std::string& why, double now);

class Service {
 public:
  // ctx's setup, journal, executor and clock must outlive the service.
  explicit Service(ServiceContext* ctx) : ctx_(ctx) {}

  Status Step();
  Result<int64_t> CountBatches();  // every batch in the journal
  // service.max_batches > 0: that many batches are in the journal and no job
  // is queued or running.
  Result<bool> Done(int64_t max_batches);
  // Stops the running jobs (each checkpoints at its next step and exits) and
  // waits up to timeout_s for them; a restart continues them.
  Status Shutdown(double timeout_s);

 private:
  Status HandleSignals(double now);
  Status StopJob(const SignalRecord& s, double now);
  Result<JobRecord> ActiveTraining(const std::string& model);
  Status QueueInitial(const ModelEntry& m, double now);
  Status ScanModel(const ModelEntry& m, const Production& p, double now, int64_t* budget);
  Status HandleBatch(const ModelEntry& m, const Production& p, BatchFile f, double now);
  Result<Baselines> JournalBaselines(const ModelEntry& m, int64_t version);
  Status Quarantine(const ModelEntry& m, const BatchFile& f, const std::string& why, double now);
  Status SayIfQuarantined(const ModelEntry& m, const BatchFile& f);
  Status AdvanceJobs();
  Status Recheck(const ModelEntry& m, double now);
  // The batches scored again: id and new reason.
  Result<std::vector<std::pair<int64_t, std::string>>> RescoreStale(const ModelEntry& m, const ModelState& st,
                                                                    double now);
  Result<std::string> Sha256Of(const BatchFile& f);

  ServiceContext* ctx_;
  // Profiles of a rejected job's reference batches (JournalBaselines), by job id.
  std::map<int64_t, std::shared_ptr<const Profile>> kept_profiles_;
  struct Seen {
    int64_t size = 0;
    double mtime = 0;
    std::string sha256;
  };
  std::map<std::string, Seen> seen_;                         // path → its hash, while size and mtime stay
  std::map<std::string, std::pair<int64_t, double>> young_;  // recently modified files: size, mtime last seen
  std::set<std::string> told_known_;   // path and sha256 of files already recorded, looked up once
  std::set<int64_t> waiting_signals_;  // signals held while their model's job trains or the daily budget is
                                       // spent (said once)
};

}  // namespace driftrun
