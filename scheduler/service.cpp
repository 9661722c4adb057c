#include "scheduler/service.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

#include "common/file_util.h"
#include "common/json_get.h"
#include "common/sha256.h"
#include "scheduler/register_run.h"

namespace driftrun {
namespace {

constexpr double kSettleSeconds = 1.0;

// The file name without .h5, at most 80 bytes (names of reports and
// quarantined files add to it).
std::string Stem(const std::string& path) {
  std::string b = BaseName(path);
  b = EndsWith(b, ".h5") ? b.substr(0, b.size() - 3) : b;
  return b.size() > 80 ? b.substr(0, 80) : b;
}

// A batch's drift report: state/reports/<model>/<stem>-<sha256 prefix><suffix>.json.
std::string ReportPath(const std::string& state, const std::string& model, const std::string& file,
                       const std::string& sha256, const std::string& suffix = "") {
  return state + "/reports/" + model + "/" + Stem(file) + "-" + sha256.substr(0, 12) + suffix + ".json";
}

// Batch `b` scored against `p` and `over` in a copy of its record (scores,
// report, production, reason + `why`); when its data is gone or changed, its
// old scores stand, and the reason says so. An error only for infrastructure.
Result<BatchRecord> ScoreAgain(const ModelEntry& m, const Production& p, const Baselines& over,
                               const std::string& state, const BatchRecord& b, const std::string& why,
                               double now) {
  BatchRecord again = b;
  Result<std::string> data = ScoredData(state, b);
  const std::string report =
      ReportPath(state, m.name, b.file, b.sha256, "-again-" + std::to_string(static_cast<int64_t>(now)));
  auto scored = data.ok() ? ScoreBatch(m, p, BatchFile{data.value(), b.sha256, b.mtime}, report, now, &over)
                          : Result<BatchRecord>(data.status());
  if (!scored.ok() && scored.status().code() != Code::kData) return scored.status();
  if (!scored.ok()) {  // the old scores stand, and are not tried again
    again.reason = b.reason + "; could not be scored again against " + m.name + ":" +
                   std::to_string(p.version) + " (" + scored.status().message() + "): these scores stand";
    return again;
  }
  again.drifted = scored.value().drifted;
  again.concept = scored.value().concept;
  again.drift_share = scored.value().drift_share;
  again.scores = scored.value().scores;
  again.report = scored.value().report;
  again.production = p.version;
  again.reason = scored.value().reason + "; " + why;
  return again;
}

}  // namespace

Result<TriggerOutcome> RecordTrigger(Journal& jn, const ModelEntry& m, TriggerKind kind, int64_t up_to_batch,
                                     const std::string& why, double now) {
  DRIFTRUN_ASSIGN_OR_RETURN(ModelState st, jn.State(m.name, m.trigger.min_rows, m.trigger.window(), now));
  const TriggerDecision d = DecideTrigger(m.trigger, st, kind, now);
  TriggerOutcome out;
  out.action = TriggerActionName(d.action);
  if (d.action == TriggerAction::kNone) {
    out.line = "no retrain: " + d.reason;
    return out;
  }
  TriggerRecord t;
  t.model = m.name;
  t.kind = TriggerKindName(kind);
  t.action = out.action;
  t.reason = d.reason + (why.empty() ? "" : " (" + why + ")");
  t.at = now;
  t.batches = d.batches;
  if (d.action == TriggerAction::kQueue) {
    JobRecord j;
    j.model = m.name;
    j.priority = m.priority;
    j.queued_at = now;
    j.trigger = t.kind;
    DRIFTRUN_ASSIGN_OR_RETURN(t.job, jn.AddJob(j));
  } else if (d.action == TriggerAction::kMerge) {
    t.job = st.active_job;
    DRIFTRUN_ASSIGN_OR_RETURN(JobRecord active, jn.Job(st.active_job));
    if (active.state != JobState::kQueued) {
      // Its training data is fixed: the batches stay pending and count again
      // when it ends (Service::Recheck).
      up_to_batch = 0;
      t.reason += "; job " + std::to_string(t.job) + " already runs: these batches count again when it ends";
    }
  }
  DRIFTRUN_ASSIGN_OR_RETURN(out.trigger, jn.AddTrigger(t, up_to_batch));
  out.job = t.job;
  out.line = out.action + ": " + t.reason + (t.job > 0 ? " (job " + std::to_string(t.job) + ")" : "");
  return out;
}

Status Service::HandleSignals(double now) {
  Journal& jn = *ctx_->journal;
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<SignalRecord> sigs, jn.PendingSignals());
  for (const SignalRecord& s : sigs) {
    if (s.stop_job > 0) {
      DRIFTRUN_RETURN_IF_ERROR(StopJob(s, now));
      continue;
    }
    DRIFTRUN_ASSIGN_OR_RETURN(Journal::Txn txn, jn.Begin());
    const ModelEntry* m = ctx_->setup->Find(s.model);
    // A retrain asked for while the model's job already trains would merge
    // into a job that cannot use it: the signal waits for that job to end.
    if (m) {
      DRIFTRUN_ASSIGN_OR_RETURN(JobRecord busy, ActiveTraining(s.model));
      if (busy.id > 0) {
        if (waiting_signals_.insert(s.id).second && ctx_->say) {
          ctx_->say("signal " + std::to_string(s.id) + " (" + s.model + ") waits: job " +
                    std::to_string(busy.id) + " is " + JobStateName(busy.state) +
                    "; a new retrain is queued when it ends");
        }
        continue;
      }
      // Found by review: a signal held by the daily budget was recorded as a
      // hold and never queued. It waits, pending, until the budget frees.
      DRIFTRUN_ASSIGN_OR_RETURN(ModelState st,
                                jn.State(m->name, m->trigger.min_rows, m->trigger.window(), now));
      const TriggerDecision d = DecideTrigger(m->trigger, st, TriggerKind::kSignal, now);
      if (d.action == TriggerAction::kHold) {
        if (waiting_signals_.insert(s.id).second && ctx_->say) {
          ctx_->say("signal " + std::to_string(s.id) + " (" + s.model + ") waits: " + d.reason +
                    "; it is queued then");
        }
        continue;
      }
    }
    int64_t trigger = -1;
    std::string what = "ignored: model '" + s.model + "' is not in service.models";
    if (m) {
      DRIFTRUN_ASSIGN_OR_RETURN(
          TriggerOutcome t,
          RecordTrigger(jn, *m, TriggerKind::kSignal, 0,
                        "signal " + std::to_string(s.id) + " by " + s.by + ": " + s.reason, now));
      what = t.line;
      trigger = t.trigger > 0 ? t.trigger : -1;
    }
    DRIFTRUN_RETURN_IF_ERROR(jn.MarkSignal(s.id, trigger));
    DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
    if (ctx_->say) ctx_->say("signal " + std::to_string(s.id) + " (" + s.model + "): " + what);
  }
  return Status::Ok();
}

// The model's job past the queue (running, trained, evaluated), if any.
Result<JobRecord> Service::ActiveTraining(const std::string& model) {
  for (JobState st : {JobState::kRunning, JobState::kTrained, JobState::kEvaluated}) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, ctx_->journal->JobsIn(st));
    for (const JobRecord& j : jobs)
      if (j.model == model) return j;
  }
  return JobRecord{};
}

// `driftrun signal --stop JOB`: a queued job fails at once; a running one is
// asked to checkpoint and stop (the request is in its spec before the
// executor hears of it, so a restart does not launch it again) and fails when
// it has stopped (job_driver.h). A job past training has nothing to stop.
Status Service::StopJob(const SignalRecord& s, double now) {
  Journal& jn = *ctx_->journal;
  const std::string who = "signal " + std::to_string(s.id) + " by " + s.by + ": " + s.reason;
  auto job = jn.Job(s.stop_job);
  std::string what;
  if (!job.ok()) {
    what = "ignored: no job " + std::to_string(s.stop_job);
  } else if (job.value().state == JobState::kQueued) {
    JobRecord j = job.take();
    j.ended_at = now;
    DRIFTRUN_RETURN_IF_ERROR(
        jn.UpdateJob(j, JobState::kFailed, "stopped before it started (" + who + ")", now));
    what = "job " + std::to_string(j.id) + " failed: stopped before it started";
  } else if (job.value().state == JobState::kRunning) {
    JobRecord j = job.take();
    j.spec["stop_requested"] = who;
    DRIFTRUN_RETURN_IF_ERROR(jn.UpdateJob(j, JobState::kRunning, "stop requested (" + who + ")", now));
    if (!j.handle.empty()) ctx_->executor->Stop(j.handle);
    what = "job " + std::to_string(j.id) + " stops at its next step and checkpoints";
  } else {
    what = "ignored: job " + std::to_string(s.stop_job) + " is " + JobStateName(job.value().state) +
           ", past training: nothing to stop";
  }
  DRIFTRUN_RETURN_IF_ERROR(jn.MarkSignal(s.id, -1));
  if (ctx_->say)
    ctx_->say("signal " + std::to_string(s.id) + " (stop job " + std::to_string(s.stop_job) + "): " + what);
  return Status::Ok();
}

Status Service::QueueInitial(const ModelEntry& m, double now) {
  Journal& jn = *ctx_->journal;
  // Called with no production version: a registry moved away while serving.
  DRIFTRUN_RETURN_IF_ERROR(CheckPromotedIsInRegistry(jn, m, 0));
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, jn.Jobs(m.name, 1));
  if (!jobs.empty()) return Status::Ok();  // once: a failed first job waits for `driftrun signal`
  DRIFTRUN_ASSIGN_OR_RETURN(Journal::Txn txn, jn.Begin());
  DRIFTRUN_ASSIGN_OR_RETURN(TriggerOutcome t,
                            RecordTrigger(jn, m, TriggerKind::kInitial, 0, "no production version", now));
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  if (ctx_->say) ctx_->say(m.name + ": initial training: " + t.line);
  return Status::Ok();
}

Result<std::string> Service::Sha256Of(const BatchFile& f) {
  const int64_t size = FileSize(f.path);
  auto it = seen_.find(f.path);
  if (it != seen_.end() && it->second.size == size && it->second.mtime == f.mtime) return it->second.sha256;
  DRIFTRUN_ASSIGN_OR_RETURN(std::string sha, Sha256File(f.path));
  seen_[f.path] = {size, f.mtime, sha};
  return sha;
}

Status Service::Quarantine(const ModelEntry& m, const BatchFile& f, const std::string& why, double now) {
  BatchRecord b = BatchRecordFor(m.name, f, now);
  b.decision = "quarantined";
  // Found by review: a file quarantined while half-written (its writer paused)
  // gave no hint that sending it again is what makes it read.
  b.reason = why + (why.find("send it again") != std::string::npos
                        ? ""
                        : "; fix it and send it again (write it as .NAME.tmp, then rename it into place): "
                          "these bytes at this path are not read again");
  const std::string dir = ctx_->setup->state + "/quarantine/" + m.name;
  std::string dest = dir + "/" + BaseName(f.path);
  if (PathExists(dest) || BaseName(f.path).size() > 200)
    dest = dir + "/" + Stem(f.path) + "-" + f.sha256.substr(0, 12) + ".h5";
  b.report = dest;
  {
    DRIFTRUN_ASSIGN_OR_RETURN(Journal::Txn txn, ctx_->journal->Begin());
    DRIFTRUN_RETURN_IF_ERROR(ctx_->journal->AddBatch(b).status());
    DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  }
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(dest + ".reason", b.reason + "\n"));
  std::string moved = "moved to " + dest;
  if (std::rename(f.path.c_str(), dest.c_str()) != 0)
    moved =
        "could not be moved to " + dest + " (" + std::strerror(errno) + "); left in place, never read again";
  if (ctx_->say) ctx_->say(m.name + ": quarantined " + f.path + ": " + b.reason + "; " + moved);
  return Status::Ok();
}

// Newer baselines for production version `version` than its registry
// record's: from the newest job that left it in production with a sound
// challenger (no worse on the holdout than the tolerance allows) whose gain on
// the batches since the drift is, even at the lower end of its interval,
// within the tolerance. Retraining then does not help
// on this data, so production's loss on the batches since the drift is the
// concept baseline and their profile the data-drift reference. Without it, a
// regime no retrain improves on (noisier labels, a return to an earlier
// regime) would drift on every batch and every retrain would be rejected, up
// to trigger.max_per_day. While retrains win, the holdout stays the bar (a
// model still far worse than before the drift keeps retraining); a broken
// challenger (a bad learning rate) changes nothing.
Result<Baselines> Service::JournalBaselines(const ModelEntry& m, int64_t version) {
  Baselines out;
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, ctx_->journal->Jobs(m.name, 64));  // newest first
  for (const JobRecord& j : jobs) {
    // Decide's flags (evaluation.h); a verdict without them freezes nothing.
    if (j.state != JobState::kRejected || JsonInt(j.verdict, "champion", 0) != version ||
        !JsonTrue(j.verdict, "holdout_ok") || !JsonTrue(j.verdict, "no_gain_since_drift"))
      continue;
    const nlohmann::json& since = JsonObjectAt(j.verdict, "since_drift");
    // Production's loss on every row of those batches (it trained on none),
    // else on their held-out rows (a journal from before it was measured).
    const nlohmann::json& all = JsonObjectAt(j.verdict, "production_since_drift");
    const bool every = JsonAt(all, "loss").is_number();
    ConceptBaseline b;
    b.loss = every ? JsonNumber(all, "loss", 0) : JsonNumber(since, "champion_loss", std::nan(""));
    b.rows = JsonInt(every ? all : since, "rows", 0);
    b.from = "its loss since the drift (job " + std::to_string(j.id) + " did not beat it)";
    out.concept = b;
    const nlohmann::json& ref = JsonObjectAt(j.spec, "reference");
    if (JsonAt(ref, "from") != "drift") return out;
    auto& cached = kept_profiles_[j.id];
    if (!cached) {
      std::vector<std::string> files;
      for (const auto& f : JsonAt(ref, "files"))
        if (f.is_string()) files.push_back(f);
      auto prof = ProfileOfFiles(files, m.cfg.Str("data.features"));
      if (!prof.ok()) {  // the batches' kept copies are gone: the registry's profile stays
        if (ctx_->say) ctx_->say(m.name + ": warning: " + prof.status().message());
        return out;
      }
      cached = std::make_shared<const Profile>(prof.take());
    }
    out.profile = cached;
    out.profile_from =
        "the batches since the drift (job " + std::to_string(j.id) + " did not beat production there)";
    return out;
  }
  return out;
}

Status Service::HandleBatch(const ModelEntry& m, const Production& p, BatchFile f, double now) {
  const std::string report = ReportPath(ctx_->setup->state, m.name, f.path, f.sha256);
  DRIFTRUN_ASSIGN_OR_RETURN(Baselines over, JournalBaselines(m, p.version));
  auto scored = ScoreBatch(m, p, f, report, now, &over);
  if (!scored.ok()) {
    if (scored.status().code() != Code::kData) return scored.status();
    return Quarantine(m, f, scored.status().message(), now);
  }
  DRIFTRUN_RETURN_IF_ERROR(MarkIfDuplicate(*ctx_->journal, m, &scored.value()));
  // The service's own copy of a batch that may train, before the journal
  // says it was scored (a crash in between leaves a copy to reuse).
  if (scored.value().decision == "scored" && scored.value().labelled) {
    if (Status kept = KeepBatch(ctx_->setup->state, scored.value()); !kept.ok() && ctx_->say)
      ctx_->say(m.name + ": warning: no copy of " + f.path + " kept (" + kept.message() +
                "); jobs read the file itself, and leave it out if it changes");
  }
  Journal& jn = *ctx_->journal;
  DRIFTRUN_ASSIGN_OR_RETURN(Journal::Txn txn, jn.Begin());
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t id, jn.AddBatch(scored.value()));
  std::string what;  // too_small and quality say "recorded" in their reason
  if (scored.value().decision == "scored") {
    DRIFTRUN_ASSIGN_OR_RETURN(TriggerOutcome t, RecordTrigger(jn, m, TriggerKind::kDrift, id, "", now));
    what = t.line;
    DRIFTRUN_RETURN_IF_ERROR(jn.SetBatchAction(id, t.action, scored.value().reason + "; " + t.line));
  }
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  if (ctx_->say)
    ctx_->say(m.name + ": batch " + BaseName(f.path) + ": " + scored.value().reason +
              (what.empty() ? "" : "; " + what));
  return Status::Ok();
}

Status Service::ScanModel(const ModelEntry& m, const Production& p, double now, int64_t* budget) {
  for (BatchFile f : ListBatches(m.incoming)) {
    if (*budget == 0) return Status::Ok();
    // A file modified in the last second may still be being written (copied
    // in place rather than renamed in): it is taken once a later poll finds
    // its size and modification time unchanged. Later files wait too, so that
    // batches are taken in their order.
    const double age = now - f.mtime;
    if (age >= 0 && age < kSettleSeconds) {
      const std::pair<int64_t, double> look{FileSize(f.path), f.mtime};
      auto it = young_.find(f.path);
      if (it == young_.end() || it->second != look) {
        young_[f.path] = look;
        return Status::Ok();
      }
    }
    young_.erase(f.path);
    auto sha = Sha256Of(f);
    if (!sha.ok()) continue;  // vanished or unreadable between listing and hashing: next poll
    f.sha256 = sha.value();
    DRIFTRUN_ASSIGN_OR_RETURN(bool known, ctx_->journal->HasBatch(m.name, f.path, f.sha256));
    if (known) {
      if (told_known_.insert(f.path + "\n" + f.sha256).second)
        DRIFTRUN_RETURN_IF_ERROR(SayIfQuarantined(m, f));
      continue;
    }
    DRIFTRUN_RETURN_IF_ERROR(HandleBatch(m, p, f, now));
    if (*budget > 0) --*budget;
  }
  return Status::Ok();
}

// Found by review: a quarantined file dropped again under its name, with the
// same bytes, was ignored without a word (a batch is read once by path and
// bytes). Said once a service run.
Status Service::SayIfQuarantined(const ModelEntry& m, const BatchFile& f) {
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t id, ctx_->journal->LatestBatchAt(m.name, f.path));
  if (id == 0 || !ctx_->say) return Status::Ok();
  DRIFTRUN_ASSIGN_OR_RETURN(BatchRecord b, ctx_->journal->Batch(id));
  if (b.decision != "quarantined" || b.sha256 != f.sha256) return Status::Ok();
  ctx_->say(m.name + ": " + f.path + " has the bytes batch " + std::to_string(id) +
            " had when it was quarantined (" + b.reason + "): it is not read again; fix the file first");
  return Status::Ok();
}

// Pending batches scored before production or its baselines last changed (a
// job's verdict since, or a promotion or rollback by hand) are scored again
// against today's. Found by a stranger: a batch of the same change that
// arrived while the retrain ran kept its score against the old version and
// queued a second retrain on data the new version already fits.
Result<std::vector<std::pair<int64_t, std::string>>> Service::RescoreStale(const ModelEntry& m,
                                                                           const ModelState& st, double now) {
  Journal& jn = *ctx_->journal;
  std::vector<std::pair<int64_t, std::string>> rescored;
  DRIFTRUN_ASSIGN_OR_RETURN(const Production* p, ctx_->production.Get(m));
  if (p->version == 0) return rescored;
  DRIFTRUN_ASSIGN_OR_RETURN(const auto verdict, jn.LastVerdict(m.name));  // {job, ended_at}
  std::optional<Baselines> over;
  // The trigger's view (the newest trigger.of) and every batch that merged
  // into the job that ended: found by a stranger, an older merged batch kept
  // its first scores and "merge" while the next job trained on it.
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<int64_t> ids, jn.PendingMerged(m.name));
  for (const ScoredBatch& pb : st.pending) ids.push_back(pb.id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int64_t id : ids) {
    DRIFTRUN_ASSIGN_OR_RETURN(BatchRecord b, jn.Batch(id));
    const bool after_verdict = verdict.first > 0 && b.scored_at < verdict.second;
    if (b.production == p->version && !after_verdict) continue;
    if (!over) {
      DRIFTRUN_ASSIGN_OR_RETURN(Baselines got, JournalBaselines(m, p->version));
      over = std::move(got);
    }
    const std::string since = after_verdict
                                  ? "job " + std::to_string(verdict.first) + " ended "
                                  : m.name + ":" + std::to_string(p->version) + " became production ";
    const std::string why = "scored again against " + m.name + ":" + std::to_string(p->version) + " after " +
                            since + "(on arrival, against " + m.name + ":" + std::to_string(b.production) +
                            ": " + b.reason + ")";
    DRIFTRUN_ASSIGN_OR_RETURN(BatchRecord again, ScoreAgain(m, *p, *over, ctx_->setup->state, b, why, now));
    again.scored_at = now;
    DRIFTRUN_RETURN_IF_ERROR(jn.Rescore(again));
    rescored.emplace_back(b.id, again.reason);
    if (ctx_->say) ctx_->say(m.name + ": batch " + BaseName(b.file) + ": " + again.reason);
  }
  return rescored;
}

Status Service::Recheck(const ModelEntry& m, double now) {
  Journal& jn = *ctx_->journal;
  DRIFTRUN_ASSIGN_OR_RETURN(ModelState st, jn.State(m.name, m.trigger.min_rows, m.trigger.window(), now));
  if (st.pending.empty() || st.active_job > 0) return Status::Ok();
  DRIFTRUN_ASSIGN_OR_RETURN(const auto rescored, RescoreStale(m, st, now));
  DRIFTRUN_ASSIGN_OR_RETURN(st, jn.State(m.name, m.trigger.min_rows, m.trigger.window(), now));
  const TriggerDecision d = DecideTrigger(m.trigger, st, TriggerKind::kDrift, now);
  if (d.action != TriggerAction::kQueue) {
    // A batch scored again says what its new scores led to, not the action
    // of its first scores (a stranger saw "merge" on a batch that queued nothing).
    const std::string line =
        (d.action == TriggerAction::kNone ? std::string("no retrain") : TriggerActionName(d.action)) + ": " +
        d.reason;
    for (const auto& [id, reason] : rescored)
      DRIFTRUN_RETURN_IF_ERROR(jn.SetBatchAction(id, TriggerActionName(d.action), reason + "; " + line));
    return Status::Ok();
  }
  DRIFTRUN_ASSIGN_OR_RETURN(Journal::Txn txn, jn.Begin());
  DRIFTRUN_ASSIGN_OR_RETURN(TriggerOutcome t,
                            RecordTrigger(jn, m, TriggerKind::kDrift, st.pending.back().id,
                                          "batches that arrived during the last job or a hold", now));
  // Each batch the trigger took says so: those its decision counted, and
  // every one scored again (found by testing: an older merged batch, taken
  // but outside trigger.of, kept "merge" while the new job trained on it).
  std::set<int64_t> ids;
  for (const auto& r : rescored) ids.insert(r.first);
  if (t.job > 0) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<BatchRecord> counted, jn.JobBatches(t.job));
    for (const BatchRecord& b : counted) ids.insert(b.id);
  }
  for (int64_t id : ids) {
    DRIFTRUN_ASSIGN_OR_RETURN(BatchRecord b, jn.Batch(id));
    if (b.consumed_by == t.trigger)
      DRIFTRUN_RETURN_IF_ERROR(jn.SetBatchAction(b.id, t.action, b.reason + "; " + t.line));
  }
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  if (ctx_->say) ctx_->say(m.name + ": re-evaluated pending batches: " + t.line);
  return Status::Ok();
}

Status Service::AdvanceJobs() {
  Journal& jn = *ctx_->journal;
  // Running jobs first (a finished one frees its slot), then the rest, then
  // the queue's head: only as many queued jobs as could start, so a pass costs
  // O(log n) in queued jobs, not O(n).
  std::vector<JobRecord> jobs;
  for (JobState s : {JobState::kRunning, JobState::kTrained, JobState::kEvaluated, JobState::kRegistered}) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> in, jn.JobsIn(s));
    jobs.insert(jobs.end(), in.begin(), in.end());
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> queued,
                            jn.QueuedJobs(std::max<int64_t>(1, ctx_->max_jobs)));
  jobs.insert(jobs.end(), queued.begin(), queued.end());
  ctx_->queue_blocked = false;
  for (const JobRecord& j : jobs) DRIFTRUN_RETURN_IF_ERROR(AdvanceJob(*ctx_, j));
  return Status::Ok();
}

Status Service::Step() {
  const double now = ctx_->clock->Seconds();
  DRIFTRUN_RETURN_IF_ERROR(HandleSignals(now));
  const int64_t max_batches = ctx_->setup->cfg.Int("service.max_batches");
  int64_t budget = -1;
  if (max_batches > 0) {
    DRIFTRUN_ASSIGN_OR_RETURN(int64_t n, ctx_->journal->CountBatches());
    budget = std::max<int64_t>(0, max_batches - n);
  }
  for (const ModelEntry& m : ctx_->setup->models) {
    DRIFTRUN_ASSIGN_OR_RETURN(const Production* p, ctx_->production.Get(m));
    if (p->version == 0) {
      DRIFTRUN_RETURN_IF_ERROR(QueueInitial(m, now));
      continue;  // batches wait for a production version
    }
    if (!m.incoming.empty()) DRIFTRUN_RETURN_IF_ERROR(ScanModel(m, *p, now, &budget));
  }
  DRIFTRUN_RETURN_IF_ERROR(AdvanceJobs());
  // Drifted batches left pending (they arrived while a job ran, or a hold has
  // expired) queue the next retrain without waiting for another batch.
  const double after = ctx_->clock->Seconds();  // jobs may have ended since `now`
  for (const ModelEntry& m : ctx_->setup->models) DRIFTRUN_RETURN_IF_ERROR(Recheck(m, after));
  return Status::Ok();
}

Result<int64_t> Service::CountBatches() {
  return ctx_->journal->CountBatches();
}

Result<bool> Service::Done(int64_t max_batches) {
  if (max_batches <= 0) return false;
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t n, ctx_->journal->CountBatches());
  if (n < max_batches) return false;
  DRIFTRUN_ASSIGN_OR_RETURN(bool active, ctx_->journal->AnyActive());
  return !active;
}

Status Service::Shutdown(double timeout_s) {
  ctx_->stopping = true;
  if (ctx_->executor->Detached()) return Status::Ok();  // Slurm jobs run on; a restart follows them
  const double t0 = ctx_->clock->Seconds();
  Status last;
  do {
    last = AdvanceJobs();
    if (ctx_->executor->Running() == 0) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (ctx_->clock->Seconds() - t0 < timeout_s);
  return Status::Infra(std::to_string(ctx_->executor->Running()) + " job(s) did not stop within " +
                       std::to_string(static_cast<int>(timeout_s)) +
                       " s; they continue from their last "
                       "checkpoint when the service restarts");
}

}  // namespace driftrun
