// The retraining service's journal: one SQLite file (WAL, synchronous=FULL) at
// <state>/journal.db. Every batch the service scores (file, sha256, rows,
// scores, decision and why), every trigger (queued, merged, held), every job
// and each of its state changes, and every manual signal is written here
// *before* the service acts on it, so a service killed at any moment and
// restarted neither scores a batch twice nor loses or repeats a job.
//
// Job states: queued → running → trained → evaluated → registered →
// promoted | rejected, or failed from any of them. A job is *active* (the one
// per model that new triggers merge into) while queued, running, trained or
// evaluated.
//
// Times are Unix seconds (the caller's clock). Writers: the service (one
// process per state folder, enforced by its lock) and `driftrun signal`
// (signals only); SQLite's write lock orders them. A Journal object is not
// shared between threads. Every failure is Status::Infra (exit 5) naming the
// file, never "no rows".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "scheduler/trigger_policy.h"

struct sqlite3;

namespace driftrun {

struct BatchRecord {
  int64_t id = 0;
  std::string model, file, sha256;
  int64_t rows = 0;
  bool labelled = false;
  double mtime = 0, scored_at = 0;
  bool drifted = false, concept = false;
  double drift_share = 0;
  int64_t production = 0;                            // the version it was scored against
  nlohmann::json scores = nlohmann::json::object();  // per feature, loss numbers
  // scored (drift or not; the trigger says what followed) | too_small |
  // quarantined
  std::string decision;
  std::string reason, report;   // report: the drift report's path
  int64_t consumed_by = 0;      // the trigger that used it (0: still pending)
  std::string action = "none";  // what the trigger policy decided on its arrival: none | queue | merge | hold
};

enum class JobState { kQueued, kRunning, kTrained, kEvaluated, kRegistered, kPromoted, kRejected, kFailed };
const char* JobStateName(JobState s);
Result<JobState> ParseJobState(const std::string& s);
bool IsActive(JobState s);    // queued | running | trained | evaluated
bool IsFinished(JobState s);  // promoted | rejected | failed

struct JobRecord {
  int64_t id = 0;
  std::string model;
  JobState state = JobState::kQueued;
  int64_t priority = 0;
  double queued_at = 0, started_at = 0, ended_at = 0;  // 0: not yet
  std::string trigger;                                 // initial | drift | signal: what queued it
  nlohmann::json spec = nlohmann::json::object();      // what to train (the service's job spec)
  std::string run_dir;
  std::string handle;  // the executor's handle for the running job
  int64_t attempts = 0;
  int64_t version = 0;     // the registered version (0: none yet)
  nlohmann::json verdict;  // champion vs challenger: numbers and reason
  std::string reason;      // why it is in its state
};

struct TriggerRecord {
  int64_t id = 0;
  std::string model, kind, action, reason;
  double at = 0;
  int64_t job = 0;
  std::vector<int64_t> batches;
};

struct SignalRecord {
  int64_t id = 0;
  std::string model, reason, by;
  double at = 0;
  int64_t trigger = 0;   // 0: not yet handled
  int64_t stop_job = 0;  // > 0: `driftrun signal --stop JOB` (model is that job's)
};

// Totals for the service's metrics (scheduler/metrics.h).
struct JournalCounts {
  std::map<std::pair<std::string, std::string>, int64_t> jobs;  // (model, state) → jobs
  std::map<std::string, int64_t> batches;                       // model → batches recorded
  std::map<std::string, double> last_promotion;                 // model → time of its last promotion
};

class Journal {
 public:
  // Opens <path>, creating it and its schema when `create` (else a missing
  // file is Status::Usage: "no journal at ...; has the service run?").
  static Result<std::unique_ptr<Journal>> Open(const std::string& path, bool create);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  const std::string& path() const { return path_; }
  // The database file's integrity (SQLite quick_check): Status::Data naming it.
  Status CheckIntegrity();

  // A write transaction (BEGIN IMMEDIATE): everything between Begin and Commit
  // happens together or not at all; destroying an uncommitted one rolls back.
  class Txn {
   public:
    explicit Txn(sqlite3* db = nullptr) : db_(db) {}
    Txn(Txn&& o) noexcept : db_(o.db_), open_(o.open_) { o.open_ = false; }
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    Txn& operator=(Txn&&) = delete;
    ~Txn();
    Status Commit();

   private:
    friend class Journal;
    sqlite3* db_;
    bool open_ = false;
  };
  Result<Txn> Begin();

  // ---- batches
  Result<bool> HasBatch(const std::string& model, const std::string& file, const std::string& sha256);
  Result<int64_t> AddBatch(const BatchRecord& b);
  // Newest first, at most `limit` (model "" = all).
  Result<std::vector<BatchRecord>> Batches(const std::string& model, int64_t limit);
  // The trigger policy's decision on the batch's arrival, and the reason
  // with it (scores and trigger).
  Status SetBatchAction(int64_t id, const std::string& action, const std::string& reason);
  Result<int64_t> CountBatches();  // every batch recorded (service.max_batches)
  // The model's newest `limit` (0: all) scored batches with labels, newest first.
  Result<std::vector<BatchRecord>> LabelledBatches(const std::string& model, int64_t limit);
  // The newest batch recorded at `file` (0: none): an older one there was
  // replaced by a file renamed over it.
  Result<int64_t> LatestBatchAt(const std::string& model, const std::string& file);
  // The file of the first scored batch of `model` with this content ("" when none).
  Result<std::string> FirstScoredWithSha(const std::string& model, const std::string& sha256);
  // The files of the model's scored and duplicate batches with these bytes, oldest first.
  Result<std::vector<std::string>> FilesWithSha(const std::string& model, const std::string& sha256);
  // The batches that made the triggers queued or merged into job `job`
  // (TriggerDecision::batches) and that those triggers consumed (not one
  // merged while the job already ran), oldest first.
  Result<std::vector<BatchRecord>> JobBatches(int64_t job);
  // The model's pending batches that merged into a job already running (they
  // count again when it ends), oldest first.
  Result<std::vector<int64_t>> PendingMerged(const std::string& model);
  Result<BatchRecord> Batch(int64_t id);
  // A pending batch scored again (Service::Recheck): its scores, reason,
  // report, production version and time replace the old ones.
  Status Rescore(const BatchRecord& b);

  // What the trigger policy needs about one model at `now`: its pending
  // batches with >= min_rows rows (the newest `window`), its active job, its
  // last retrain's end and its jobs queued in the 24 h before `now`.
  Result<ModelState> State(const std::string& model, int64_t min_rows, int64_t window, double now);

  // ---- triggers: recorded with their decision; a queue or merge marks every
  // pending batch of the model up to `up_to_batch` consumed by it.
  Result<int64_t> AddTrigger(const TriggerRecord& t, int64_t up_to_batch);
  Result<std::vector<TriggerRecord>> Triggers(const std::string& model, int64_t limit);

  // ---- jobs
  Result<int64_t> AddJob(const JobRecord& j);  // state queued; the event is recorded
  // Moves a job to `state` with `reason` (an event row at `at`), setting the
  // fields of `j` that the state change fills: started_at, ended_at, handle,
  // attempts, version, verdict, run_dir, spec.
  Status UpdateJob(const JobRecord& j, JobState state, const std::string& reason, double at);
  Result<JobRecord> Job(int64_t id);
  // Active jobs (every model), highest priority first, then oldest.
  Result<std::vector<JobRecord>> ActiveJobs();
  // The queue's head: at most `limit` queued jobs, highest priority first,
  // then oldest (an index: O(log n) in queued jobs).
  Result<std::vector<JobRecord>> QueuedJobs(int64_t limit);
  Result<bool> AnyActive();
  // Every job in `state`, oldest first.
  Result<std::vector<JobRecord>> JobsIn(JobState state);
  // Newest first, at most `limit` (model "" = all).
  Result<std::vector<JobRecord>> Jobs(const std::string& model, int64_t limit);
  // The model's newest job that ended with a verdict (promoted or rejected):
  // its id and end time; {0, 0} when none. Cheap enough for every poll.
  Result<std::pair<int64_t, double>> LastVerdict(const std::string& model);
  // The model's newest promoted job: its id and the version it promoted;
  // {0, 0} when none.
  Result<std::pair<int64_t, int64_t>> LastPromoted(const std::string& model);
  Result<nlohmann::json> JobEvents(int64_t id);
  Result<JournalCounts> Counts();

  // ---- signals (driftrun signal)
  Result<int64_t> AddSignal(const SignalRecord& s);
  Result<std::vector<SignalRecord>> PendingSignals();
  Status MarkSignal(int64_t id, int64_t trigger);

 private:
  Journal(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql, const std::string& what);
  sqlite3* db_;
  std::string path_;
};

}  // namespace driftrun
