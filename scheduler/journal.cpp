#include "scheduler/journal.h"

#include <sqlite3.h>

#include <cstdlib>

#include "common/file_util.h"
#include "registry/sqlite_db.h"
#include "scheduler/journal_rows.h"

namespace driftrun {

using journal_internal::kJobColumns;
using journal_internal::ParseJson;
using journal_internal::ReadJob;
using journal_internal::ReadJobs;

namespace {

constexpr int64_t kJournalSchemaVersion =
    4;  // 2: signals.stop_job; 3: the jobs_queue index; 4: batches_by_sha

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS batches(
  id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
  rows INTEGER NOT NULL, labelled INTEGER NOT NULL, mtime REAL NOT NULL, scored_at REAL NOT NULL,
  drifted INTEGER NOT NULL, concept INTEGER NOT NULL, drift_share REAL NOT NULL, production INTEGER NOT NULL,
  scores TEXT NOT NULL, decision TEXT NOT NULL, reason TEXT NOT NULL, report TEXT NOT NULL,
  consumed_by INTEGER, action TEXT NOT NULL DEFAULT 'none', UNIQUE(model, file, sha256));
CREATE INDEX IF NOT EXISTS batches_by_model ON batches(model, id);
CREATE INDEX IF NOT EXISTS batches_pending ON batches(model, id) WHERE consumed_by IS NULL;
CREATE INDEX IF NOT EXISTS batches_by_sha ON batches(model, sha256, id);  -- duplicates, once per batch
CREATE TABLE IF NOT EXISTS triggers(
  id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL,
  at REAL NOT NULL, job INTEGER, batches TEXT NOT NULL, reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS triggers_by_model ON triggers(model, id);
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
  queued_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, ended_at REAL NOT NULL DEFAULT 0,
  trigger TEXT NOT NULL, spec TEXT NOT NULL, run_dir TEXT NOT NULL DEFAULT '', handle TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0, verdict TEXT NOT NULL DEFAULT 'null',
  reason TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS jobs_by_model ON jobs(model, queued_at);
CREATE INDEX IF NOT EXISTS jobs_ended ON jobs(model, ended_at);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs(model, priority)
  WHERE state IN ('queued', 'running', 'trained', 'evaluated');
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(state, priority DESC, id);
CREATE TABLE IF NOT EXISTS job_events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, job INTEGER NOT NULL, at REAL NOT NULL, state TEXT NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_events_by_job ON job_events(job, id);
CREATE TABLE IF NOT EXISTS signals(
  id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL,
  at REAL NOT NULL, trigger INTEGER NOT NULL DEFAULT 0, stop_job INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS signals_pending ON signals(id) WHERE trigger = 0;
)sql";

constexpr const char* kStates[] = {"queued",     "running",  "trained",  "evaluated",
                                   "registered", "promoted", "rejected", "failed"};

}  // namespace

namespace journal_internal {

const char* const kBatchColumns =
    "id, model, file, sha256, rows, labelled, mtime, scored_at, drifted, concept, drift_share, production, "
    "scores, decision, reason, report, consumed_by, action";
const char* const kJobColumns =
    "id, model, state, priority, queued_at, started_at, ended_at, trigger, spec, run_dir, handle, attempts, "
    "version, verdict, reason";

nlohmann::json ParseJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

BatchRecord ReadBatch(const Stmt& s) {
  BatchRecord b;
  b.id = s.Int(0);
  b.model = s.Text(1);
  b.file = s.Text(2);
  b.sha256 = s.Text(3);
  b.rows = s.Int(4);
  b.labelled = s.Int(5) != 0;
  b.mtime = s.Double(6);
  b.scored_at = s.Double(7);
  b.drifted = s.Int(8) != 0;
  b.concept = s.Int(9) != 0;
  b.drift_share = s.Double(10);
  b.production = s.Int(11);
  b.scores = ParseJson(s.Text(12));
  b.decision = s.Text(13);
  b.reason = s.Text(14);
  b.report = s.Text(15);
  b.consumed_by = s.Null(16) ? 0 : s.Int(16);
  b.action = s.Text(17);
  return b;
}

Result<JobRecord> ReadJob(const Stmt& s, const std::string& where) {
  JobRecord j;
  j.id = s.Int(0);
  j.model = s.Text(1);
  auto st = ParseJobState(s.Text(2));
  if (!st.ok()) return Status::Infra(where + ": job " + std::to_string(j.id) + ": " + st.status().message());
  j.state = st.value();
  j.priority = s.Int(3);
  j.queued_at = s.Double(4);
  j.started_at = s.Double(5);
  j.ended_at = s.Double(6);
  j.trigger = s.Text(7);
  j.spec = ParseJson(s.Text(8));
  j.run_dir = s.Text(9);
  j.handle = s.Text(10);
  j.attempts = s.Int(11);
  j.version = s.Int(12);
  j.verdict = ParseJson(s.Text(13));
  j.reason = s.Text(14);
  return j;
}

Result<std::vector<JobRecord>> ReadJobs(Stmt& s, const std::string& path) {
  std::vector<JobRecord> out;
  while (s.Step() == SQLITE_ROW) {
    DRIFTRUN_ASSIGN_OR_RETURN(JobRecord j, ReadJob(s, path));
    out.push_back(std::move(j));
  }
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading jobs from " + path));
  return out;
}

}  // namespace journal_internal

const char* JobStateName(JobState s) {
  return kStates[static_cast<int>(s)];
}

Result<JobState> ParseJobState(const std::string& s) {
  for (int i = 0; i < static_cast<int>(std::size(kStates)); ++i) {
    if (s == kStates[i]) return static_cast<JobState>(i);
  }
  return Status::Data("unknown job state '" + s + "'");
}

bool IsActive(JobState s) {
  return s == JobState::kQueued || s == JobState::kRunning || s == JobState::kTrained ||
         s == JobState::kEvaluated;
}

bool IsFinished(JobState s) {
  return s == JobState::kPromoted || s == JobState::kRejected || s == JobState::kFailed;
}

Status Journal::CheckIntegrity() {
  return QuickCheck(db_, path_);
}

// An empty journal.db in a state folder that holds earlier work (jobs,
// reports, kept batches, quarantine) was emptied, not new: opening it would
// start afresh and score, retrain and promote again.
static Status CheckNotEmptied(const std::string& path) {
  if (!PathExists(path) || FileSize(path) != 0) return Status::Ok();
  const std::string state = DirName(path);
  for (const char* earlier : {"jobs", "reports", "batches", "quarantine"}) {
    if (IsDir(state + "/" + earlier))
      return DamagedDb(path, "an empty file, and the state folder holds earlier work in " +
                                 std::string(earlier) +
                                 "/; to start afresh on purpose, use a new state folder");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path, bool create) {
  if (!create && !PathExists(path)) {
    return Status::Usage("no journal at '" + path +
                         "': has the service run with this state folder? (driftrun serve creates it)");
  }
  DRIFTRUN_RETURN_IF_ERROR(CheckNotEmptied(path));
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status st = Status::Infra("cannot open the journal '" + path +
                              "': " + (db ? sqlite3_errmsg(db) : "out of memory") +
                              "; check that the state folder exists and is writable");
    sqlite3_close(db);
    return st;
  }
  std::unique_ptr<Journal> j(new Journal(db, path));
  const char* busy = std::getenv("DRIFTRUN_REGISTRY_BUSY_MS");
  sqlite3_busy_timeout(db, busy && *busy ? std::max(1, std::atoi(busy)) : 60000);
  DRIFTRUN_RETURN_IF_ERROR(j->Exec("PRAGMA journal_mode=WAL", "cannot use WAL mode"));
  DRIFTRUN_RETURN_IF_ERROR(j->Exec("PRAGMA synchronous=FULL", "cannot set synchronous=FULL"));
  int64_t have = 0;
  {
    Stmt s(db, "PRAGMA user_version");
    if (s.Step() == SQLITE_ROW) have = s.Int(0);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the journal's schema version of '" + path + "'"));
  }
  if (have > kJournalSchemaVersion) {
    return Status::Infra("journal '" + path + "' has schema version " + std::to_string(have) +
                         ", newer than this driftrun's; use the driftrun that wrote it, or a newer one");
  }
  if (have < kJournalSchemaVersion) {
    DRIFTRUN_ASSIGN_OR_RETURN(Txn txn, j->Begin());
    if (have == 0) {
      DRIFTRUN_RETURN_IF_ERROR(j->Exec(kSchema, "cannot create the journal's tables"));
    } else {
      if (have < 2) {  // a journal from before `signal --stop`
        DRIFTRUN_RETURN_IF_ERROR(j->Exec("ALTER TABLE signals ADD COLUMN stop_job INTEGER NOT NULL DEFAULT 0",
                                         "cannot upgrade the journal's signals table"));
      }
      // The queue's order (priority, then age) read from its head: O(log n)
      // in queued jobs.
      DRIFTRUN_RETURN_IF_ERROR(
          j->Exec("CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(state, priority DESC, id)",
                  "cannot index the job queue"));
      DRIFTRUN_RETURN_IF_ERROR(
          j->Exec("CREATE INDEX IF NOT EXISTS batches_by_sha ON batches(model, sha256, id)",
                  "cannot index the batches by content"));
    }
    DRIFTRUN_RETURN_IF_ERROR(
        j->Exec(("PRAGMA user_version = " + std::to_string(kJournalSchemaVersion)).c_str(),
                "cannot record the journal's schema version"));
    DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  }
  return j;
}

Journal::~Journal() {
  sqlite3_close(db_);
}

Status Journal::Exec(const char* sql, const std::string& what) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    return DbError(db_, what + " (" + path_ + ")");
  return Status::Ok();
}

Journal::Txn::~Txn() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Journal::Txn::Commit() {
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return DbError(db_, "journal commit failed");
  open_ = false;
  return Status::Ok();
}

Result<Journal::Txn> Journal::Begin() {
  Txn t(db_);
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return DbError(db_, "cannot take the journal's write lock (" + path_ + ")");
  t.open_ = true;
  return t;
}

// A job that failed before it started trained nothing ("nothing new to train
// on"): it holds no cooldown and spends no daily budget.
static const char* const kTrainedSomething = " AND NOT (state = 'failed' AND started_at = 0)";

Result<ModelState> Journal::State(const std::string& model, int64_t min_rows, int64_t window, double now) {
  ModelState m;
  {
    Stmt s(db_,
           "SELECT id, rows, drifted, concept FROM batches INDEXED BY batches_pending "
           "WHERE model = ?1 AND consumed_by IS NULL AND rows >= ?2 AND decision = 'scored' ORDER BY id DESC "
           "LIMIT ?3");
    s.Bind(1, model).Bind(2, min_rows).Bind(3, window);
    while (s.Step() == SQLITE_ROW) m.pending.push_back({s.Int(0), s.Int(1), s.Int(2) != 0, s.Int(3) != 0});
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading pending batches from " + path_));
    std::reverse(m.pending.begin(), m.pending.end());
  }
  {
    Stmt s(db_,
           "SELECT id FROM jobs WHERE model = ?1 AND state IN ('queued', 'running', 'trained', 'evaluated') "
           "ORDER BY id LIMIT 1");
    s.Bind(1, model);
    if (s.Step() == SQLITE_ROW) m.active_job = s.Int(0);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading active jobs from " + path_));
  }
  {
    Stmt s(db_, std::string("SELECT MAX(ended_at) FROM jobs WHERE model = ?1 AND ended_at > 0 AND trigger != "
                            "'initial'") +
                    kTrainedSomething);
    s.Bind(1, model);
    if (s.Step() == SQLITE_ROW && !s.Null(0)) m.last_retrain_end = s.Double(0);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading job end times from " + path_));
  }
  {
    Stmt s(db_, std::string("SELECT queued_at FROM jobs WHERE model = ?1 AND queued_at > ?2 AND trigger != "
                            "'initial'") +
                    kTrainedSomething);
    s.Bind(1, model).BindDouble(2, now - 24 * 3600.0);
    while (s.Step() == SQLITE_ROW) m.queued_times_24h.push_back(s.Double(0));
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading recent jobs from " + path_));
  }
  return m;
}

Result<int64_t> Journal::AddTrigger(const TriggerRecord& t, int64_t up_to_batch) {
  nlohmann::json batches = t.batches;
  Stmt s(db_,
         "INSERT INTO triggers(model, kind, action, at, job, batches, reason) VALUES (?1, ?2, ?3, ?4, ?5, "
         "?6, ?7)");
  s.Bind(1, t.model).Bind(2, t.kind).Bind(3, t.action).BindDouble(4, t.at);
  if (t.job > 0) {
    s.Bind(5, t.job);
  } else {
    s.BindNull(5);
  }
  s.Bind(6, batches.dump()).Bind(7, t.reason);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot record a trigger in " + path_);
  const int64_t id = sqlite3_last_insert_rowid(db_);
  if ((t.action == "queue" || t.action == "merge") && up_to_batch > 0) {
    // Scored batches only: a quarantined, too small or duplicate one is in no
    // job's lineage (a stranger saw "trigger 8" on a quarantined batch).
    Stmt c(db_,
           "UPDATE batches SET consumed_by = ?1 WHERE model = ?2 AND consumed_by IS NULL AND id <= ?3 AND "
           "decision = 'scored'");
    c.Bind(1, id).Bind(2, t.model).Bind(3, up_to_batch);
    if (c.Step() != SQLITE_DONE) return DbError(db_, "cannot mark batches used in " + path_);
  }
  return id;
}

Result<std::vector<TriggerRecord>> Journal::Triggers(const std::string& model, int64_t limit) {
  Stmt s(
      db_,
      "SELECT id, model, kind, action, at, job, batches, reason FROM triggers WHERE (?1 = '' OR model = ?1) "
      "ORDER BY id DESC LIMIT ?2");
  s.Bind(1, model).Bind(2, limit);
  std::vector<TriggerRecord> out;
  while (s.Step() == SQLITE_ROW) {
    TriggerRecord t;
    t.id = s.Int(0);
    t.model = s.Text(1);
    t.kind = s.Text(2);
    t.action = s.Text(3);
    t.at = s.Double(4);
    t.job = s.Null(5) ? 0 : s.Int(5);
    nlohmann::json b = ParseJson(s.Text(6));
    if (b.is_array()) {
      for (const auto& x : b) {
        if (x.is_number_integer()) t.batches.push_back(x.get<int64_t>());
      }
    }
    t.reason = s.Text(7);
    out.push_back(t);
  }
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading triggers from " + path_));
  return out;
}

Result<int64_t> Journal::AddJob(const JobRecord& j) {
  Stmt s(db_,
         "INSERT INTO jobs(model, state, priority, queued_at, trigger, spec, run_dir, reason) "
         "VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7)");
  s.Bind(1, j.model).Bind(2, j.priority).BindDouble(3, j.queued_at).Bind(4, j.trigger).Bind(5, j.spec.dump());
  s.Bind(6, j.run_dir).Bind(7, j.reason);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot queue a job in " + path_);
  const int64_t id = sqlite3_last_insert_rowid(db_);
  Stmt e(db_, "INSERT INTO job_events(job, at, state, reason) VALUES (?1, ?2, 'queued', ?3)");
  e.Bind(1, id).BindDouble(2, j.queued_at).Bind(3, j.reason);
  if (e.Step() != SQLITE_DONE) return DbError(db_, "cannot record a job event in " + path_);
  return id;
}

Status Journal::UpdateJob(const JobRecord& j, JobState state, const std::string& reason, double at) {
  Stmt s(
      db_,
      "UPDATE jobs SET state = ?2, started_at = ?3, ended_at = ?4, handle = ?5, attempts = ?6, version = ?7, "
      "verdict = ?8, run_dir = ?9, reason = ?10, spec = ?11 WHERE id = ?1");
  s.Bind(1, j.id)
      .Bind(2, std::string(JobStateName(state)))
      .BindDouble(3, j.started_at)
      .BindDouble(4, j.ended_at);
  s.Bind(5, j.handle).Bind(6, j.attempts).Bind(7, j.version).Bind(8, j.verdict.dump()).Bind(9, j.run_dir);
  s.Bind(10, reason).Bind(11, j.spec.dump());
  if (s.Step() != SQLITE_DONE)
    return DbError(db_, "cannot update job " + std::to_string(j.id) + " in " + path_);
  if (sqlite3_changes(db_) != 1) return Status::Infra("job " + std::to_string(j.id) + " is not in " + path_);
  Stmt e(db_, "INSERT INTO job_events(job, at, state, reason) VALUES (?1, ?2, ?3, ?4)");
  e.Bind(1, j.id).BindDouble(2, at).Bind(3, std::string(JobStateName(state))).Bind(4, reason);
  if (e.Step() != SQLITE_DONE) return DbError(db_, "cannot record a job event in " + path_);
  return Status::Ok();
}

Result<JobRecord> Journal::Job(int64_t id) {
  Stmt s(db_, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1");
  s.Bind(1, id);
  if (s.Step() == SQLITE_ROW) return ReadJob(s, path_);
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading job " + std::to_string(id) + " from " + path_));
  return Status::Usage("no job " + std::to_string(id) + " in " + path_);
}

Result<std::vector<JobRecord>> Journal::ActiveJobs() {
  Stmt s(db_, std::string("SELECT ") + kJobColumns +
                  " FROM jobs WHERE state IN ('queued', 'running', 'trained', 'evaluated') "
                  "ORDER BY priority DESC, id");
  return ReadJobs(s, path_);
}

Result<std::vector<JobRecord>> Journal::QueuedJobs(int64_t limit) {
  Stmt s(db_, std::string("SELECT ") + kJobColumns +
                  " FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id LIMIT ?1");
  s.Bind(1, limit);
  return ReadJobs(s, path_);
}

Result<bool> Journal::AnyActive() {
  Stmt s(db_, "SELECT 1 FROM jobs WHERE state IN ('queued', 'running', 'trained', 'evaluated') LIMIT 1");
  const bool any = s.Step() == SQLITE_ROW;
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading jobs from " + path_));
  return any;
}

Result<std::vector<JobRecord>> Journal::JobsIn(JobState state) {
  Stmt s(db_, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE state = ?1 ORDER BY id");
  s.Bind(1, std::string(JobStateName(state)));
  return ReadJobs(s, path_);
}

Result<std::pair<int64_t, double>> Journal::LastVerdict(const std::string& model) {
  Stmt s(
      db_,
      "SELECT id, ended_at FROM jobs WHERE model = ?1 AND state IN ('promoted', 'rejected') ORDER BY id DESC "
      "LIMIT 1");
  s.Bind(1, model);
  std::pair<int64_t, double> out{0, 0};
  if (s.Step() == SQLITE_ROW) out = {s.Int(0), s.Double(1)};
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the last verdict from " + path_));
  return out;
}

Result<std::pair<int64_t, int64_t>> Journal::LastPromoted(const std::string& model) {
  Stmt s(db_,
         "SELECT id, version FROM jobs WHERE model = ?1 AND state = 'promoted' ORDER BY id DESC LIMIT 1");
  s.Bind(1, model);
  std::pair<int64_t, int64_t> out{0, 0};
  if (s.Step() == SQLITE_ROW) out = {s.Int(0), s.Int(1)};
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the last promotion from " + path_));
  return out;
}

Result<std::vector<JobRecord>> Journal::Jobs(const std::string& model, int64_t limit) {
  Stmt s(db_, std::string("SELECT ") + kJobColumns +
                  " FROM jobs WHERE (?1 = '' OR model = ?1) ORDER BY id DESC LIMIT ?2");
  s.Bind(1, model).Bind(2, limit);
  return ReadJobs(s, path_);
}

Result<nlohmann::json> Journal::JobEvents(int64_t id) {
  Stmt s(db_, "SELECT at, state, reason FROM job_events WHERE job = ?1 ORDER BY id");
  s.Bind(1, id);
  nlohmann::json out = nlohmann::json::array();
  while (s.Step() == SQLITE_ROW)
    out.push_back({{"at", s.Double(0)}, {"state", s.Text(1)}, {"reason", s.Text(2)}});
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading job events from " + path_));
  return out;
}

}  // namespace driftrun
