#include "scheduler/replay.h"

#include <set>

#include "common/file_util.h"
#include "common/sha256.h"

namespace driftrun {
namespace {

// Ends the simulated retrains that would have finished by `now`.
Status EndJobs(Journal& jn, double now, double retrain_s) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> active, jn.ActiveJobs());
  for (JobRecord j : active) {
    if (j.queued_at + retrain_s > now) continue;
    j.ended_at = j.queued_at + retrain_s;
    DRIFTRUN_RETURN_IF_ERROR(jn.UpdateJob(j, JobState::kPromoted, "replay: assumed retrained", j.ended_at));
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<ReplayRow>> Replay(const ModelEntry& m, const Production& p, const std::string& dir,
                                      double retrain_s, std::vector<std::string>* skipped) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto jn, Journal::Open(":memory:", true));
  std::set<std::string> training;
  for (const std::string& f : m.cfg.StrList("data.train")) training.insert(AbsolutePath(f));
  std::vector<ReplayRow> rows;
  for (BatchFile f : ListBatches(dir)) {
    if (training.count(AbsolutePath(f.path))) {
      if (skipped) skipped->push_back(f.path);
      continue;
    }
    ReplayRow row;
    DRIFTRUN_ASSIGN_OR_RETURN(f.sha256, Sha256File(f.path));
    DRIFTRUN_RETURN_IF_ERROR(EndJobs(*jn, f.mtime, retrain_s));
    auto scored = ScoreBatch(m, p, f, "", f.mtime);
    if (!scored.ok()) {
      if (scored.status().code() != Code::kData) return scored.status();
      row.batch = BatchRecordFor(m.name, f, f.mtime);
      row.batch.decision = "quarantined";
      row.batch.reason = scored.status().message();
      rows.push_back(row);
      continue;
    }
    row.batch = scored.take();
    DRIFTRUN_RETURN_IF_ERROR(MarkIfDuplicate(*jn, m, &row.batch));
    DRIFTRUN_ASSIGN_OR_RETURN(Journal::Txn txn, jn->Begin());
    DRIFTRUN_ASSIGN_OR_RETURN(row.batch.id, jn->AddBatch(row.batch));
    if (row.batch.decision == "scored") {
      DRIFTRUN_ASSIGN_OR_RETURN(row.trigger,
                                RecordTrigger(*jn, m, TriggerKind::kDrift, row.batch.id, "", f.mtime));
    }
    DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
    rows.push_back(row);
  }
  return rows;
}

}  // namespace driftrun
