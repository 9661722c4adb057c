// The journal's batches: what the service scored, which trigger used them,
// and their scores again after production changed. Part of Journal
// (scheduler/journal.h).
#include <sqlite3.h>

#include "registry/sqlite_db.h"
#include "scheduler/journal.h"
#include "scheduler/journal_rows.h"

namespace driftrun {

using journal_internal::kBatchColumns;
using journal_internal::ReadBatch;

Result<bool> Journal::HasBatch(const std::string& model, const std::string& file, const std::string& sha256) {
  Stmt s(db_, "SELECT 1 FROM batches WHERE model = ?1 AND file = ?2 AND sha256 = ?3");
  s.Bind(1, model).Bind(2, file).Bind(3, sha256);
  const bool found = s.Step() == SQLITE_ROW;
  DRIFTRUN_RETURN_IF_ERROR(s.Check("looking up a batch in " + path_));
  return found;
}

Result<int64_t> Journal::LatestBatchAt(const std::string& model, const std::string& file) {
  Stmt s(db_, "SELECT MAX(id) FROM batches WHERE model = ?1 AND file = ?2");
  s.Bind(1, model).Bind(2, file);
  const int64_t id = s.Step() == SQLITE_ROW && !s.Null(0) ? s.Int(0) : 0;
  DRIFTRUN_RETURN_IF_ERROR(s.Check("looking up a batch in " + path_));
  return id;
}

Result<int64_t> Journal::AddBatch(const BatchRecord& b) {
  Stmt s(db_,
         "INSERT INTO batches(model, file, sha256, rows, labelled, mtime, scored_at, drifted, concept, "
         "drift_share, "
         "production, scores, decision, reason, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
         "?11, ?12, "
         "?13, ?14, ?15)");
  s.Bind(1, b.model).Bind(2, b.file).Bind(3, b.sha256).Bind(4, b.rows).Bind(5, int64_t{b.labelled});
  s.BindDouble(6, b.mtime).BindDouble(7, b.scored_at).Bind(8, int64_t{b.drifted}).Bind(9, int64_t{b.concept});
  s.BindDouble(10, b.drift_share).Bind(11, b.production).Bind(12, b.scores.dump());
  s.Bind(13, b.decision).Bind(14, b.reason).Bind(15, b.report);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot record batch '" + b.file + "' in " + path_);
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Journal::SetBatchAction(int64_t id, const std::string& action, const std::string& reason) {
  Stmt s(db_, "UPDATE batches SET action = ?2, reason = ?3 WHERE id = ?1");
  s.Bind(1, id).Bind(2, action).Bind(3, reason);
  if (s.Step() != SQLITE_DONE)
    return DbError(db_, "cannot record batch " + std::to_string(id) + "'s trigger");
  return Status::Ok();
}

Result<std::vector<BatchRecord>> Journal::Batches(const std::string& model, int64_t limit) {
  Stmt s(db_, std::string("SELECT ") + kBatchColumns +
                  " FROM batches WHERE (?1 = '' OR model = ?1) ORDER BY id DESC LIMIT ?2");
  s.Bind(1, model).Bind(2, limit);
  std::vector<BatchRecord> out;
  while (s.Step() == SQLITE_ROW) out.push_back(ReadBatch(s));
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading batches from " + path_));
  return out;
}

Result<int64_t> Journal::CountBatches() {
  Stmt s(db_, "SELECT COUNT(*) FROM batches");
  const int64_t n = s.Step() == SQLITE_ROW ? s.Int(0) : 0;
  DRIFTRUN_RETURN_IF_ERROR(s.Check("counting batches in " + path_));
  return n;
}

Result<std::vector<BatchRecord>> Journal::LabelledBatches(const std::string& model, int64_t limit) {
  Stmt s(db_, std::string("SELECT ") + kBatchColumns +
                  " FROM batches WHERE model = ?1 AND labelled = 1 AND decision = 'scored' ORDER BY id DESC "
                  "LIMIT ?2");
  s.Bind(1, model).Bind(2, limit > 0 ? limit : int64_t{-1});
  std::vector<BatchRecord> out;
  while (s.Step() == SQLITE_ROW) out.push_back(ReadBatch(s));
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading labelled batches from " + path_));
  return out;
}

Result<std::vector<BatchRecord>> Journal::JobBatches(int64_t job) {
  // Only batches a trigger of the job consumed: one merged into the job while
  // it already ran stays pending (its data was fixed), and is credited to the
  // job that trains on it.
  Stmt s(db_,
         std::string("SELECT ") + kBatchColumns +
             " FROM batches WHERE id IN (SELECT value FROM triggers, json_each(triggers.batches) WHERE "
             "triggers.job = ?1) AND consumed_by IN (SELECT id FROM triggers WHERE job = ?1) ORDER BY id");
  s.Bind(1, job);
  std::vector<BatchRecord> out;
  while (s.Step() == SQLITE_ROW) out.push_back(ReadBatch(s));
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the batches of job " + std::to_string(job) + " from " + path_));
  return out;
}

Result<std::string> Journal::FirstScoredWithSha(const std::string& model, const std::string& sha256) {
  Stmt s(db_,
         "SELECT file FROM batches WHERE model = ?1 AND sha256 = ?2 AND decision = 'scored' ORDER BY id "
         "LIMIT 1");
  s.Bind(1, model).Bind(2, sha256);
  const std::string file = s.Step() == SQLITE_ROW ? s.Text(0) : "";
  DRIFTRUN_RETURN_IF_ERROR(s.Check("looking up a batch in " + path_));
  return file;
}

Result<std::vector<std::string>> Journal::FilesWithSha(const std::string& model, const std::string& sha256) {
  Stmt s(db_,
         "SELECT file FROM batches WHERE model = ?1 AND sha256 = ?2 AND decision IN ('scored', 'duplicate') "
         "ORDER BY id");
  s.Bind(1, model).Bind(2, sha256);
  std::vector<std::string> files;
  while (s.Step() == SQLITE_ROW) files.push_back(s.Text(0));
  DRIFTRUN_RETURN_IF_ERROR(s.Check("looking up copies of a batch in " + path_));
  return files;
}

Result<std::vector<int64_t>> Journal::PendingMerged(const std::string& model) {
  Stmt s(db_,
         "SELECT id FROM batches INDEXED BY batches_pending WHERE model = ?1 AND consumed_by IS NULL AND "
         "decision = 'scored' AND action = 'merge' ORDER BY id");
  s.Bind(1, model);
  std::vector<int64_t> ids;
  while (s.Step() == SQLITE_ROW) ids.push_back(s.Int(0));
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading merged batches from " + path_));
  return ids;
}

Result<BatchRecord> Journal::Batch(int64_t id) {
  Stmt s(db_, std::string("SELECT ") + kBatchColumns + " FROM batches WHERE id = ?1");
  s.Bind(1, id);
  if (s.Step() != SQLITE_ROW) {
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading batch " + std::to_string(id) + " from " + path_));
    return Status::Infra("no batch " + std::to_string(id) + " in " + path_);
  }
  return ReadBatch(s);
}

Status Journal::Rescore(const BatchRecord& b) {
  Stmt s(db_,
         "UPDATE batches SET scored_at = ?2, drifted = ?3, concept = ?4, drift_share = ?5, production = ?6, "
         "scores = ?7, reason = ?8, report = ?9 WHERE id = ?1 AND consumed_by IS NULL");
  s.Bind(1, b.id).BindDouble(2, b.scored_at).Bind(3, int64_t{b.drifted}).Bind(4, int64_t{b.concept});
  s.BindDouble(5, b.drift_share).Bind(6, b.production).Bind(7, b.scores.dump()).Bind(8, b.reason);
  s.Bind(9, b.report);
  if (s.Step() != SQLITE_DONE)
    return DbError(db_, "cannot record batch " + std::to_string(b.id) + "'s new scores in " + path_);
  return Status::Ok();
}

}  // namespace driftrun
