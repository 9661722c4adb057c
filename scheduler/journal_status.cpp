// The journal's signals (driftrun signal -> the service), the counts that
// status and the metrics endpoint read, and lookups for messages. Part of
// Journal (scheduler/journal.h).
#include <sqlite3.h>

#include "registry/sqlite_db.h"
#include "scheduler/journal.h"

namespace driftrun {

Result<JournalCounts> Journal::Counts() {
  JournalCounts c;
  {
    Stmt s(db_, "SELECT model, state, count(*) FROM jobs GROUP BY model, state");
    while (s.Step() == SQLITE_ROW) c.jobs[{s.Text(0), s.Text(1)}] = s.Int(2);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("counting jobs in " + path_));
  }
  {
    Stmt s(db_, "SELECT model, count(*) FROM batches GROUP BY model");
    while (s.Step() == SQLITE_ROW) c.batches[s.Text(0)] = s.Int(1);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("counting batches in " + path_));
  }
  {
    Stmt s(
        db_,
        "SELECT j.model, max(e.at) FROM job_events e JOIN jobs j ON j.id = e.job WHERE e.state = 'promoted' "
        "GROUP BY j.model");
    while (s.Step() == SQLITE_ROW) c.last_promotion[s.Text(0)] = s.Double(1);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading promotions in " + path_));
  }
  return c;
}

Result<int64_t> Journal::AddSignal(const SignalRecord& r) {
  Stmt s(db_, "INSERT INTO signals(model, reason, by, at, stop_job) VALUES (?1, ?2, ?3, ?4, ?5)");
  s.Bind(1, r.model).Bind(2, r.reason).Bind(3, r.by).BindDouble(4, r.at).Bind(5, r.stop_job);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot record the signal in " + path_);
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<SignalRecord>> Journal::PendingSignals() {
  Stmt s(db_, "SELECT id, model, reason, by, at, stop_job FROM signals WHERE trigger = 0 ORDER BY id");
  std::vector<SignalRecord> out;
  while (s.Step() == SQLITE_ROW)
    out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Double(4), 0, s.Int(5)});
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading signals from " + path_));
  return out;
}

Status Journal::MarkSignal(int64_t id, int64_t trigger) {
  Stmt s(db_, "UPDATE signals SET trigger = ?2 WHERE id = ?1");
  s.Bind(1, id).Bind(2, trigger);
  if (s.Step() != SQLITE_DONE)
    return DbError(db_, "cannot mark signal " + std::to_string(id) + " in " + path_);
  return Status::Ok();
}

}  // namespace driftrun
