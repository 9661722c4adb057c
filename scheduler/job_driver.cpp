#include "scheduler/job_driver.h"

#include <csignal>
#include <cstdlib>
#include <map>
#include <utility>
#include <vector>

#include "common/file_lock.h"
#include "common/file_util.h"
#include "common/json_get.h"
#include "common/sha256.h"
#include "common/text.h"
#include "export/exporter.h"
#include "scheduler/batch_score.h"
#include "scheduler/evaluation.h"
#include "scheduler/job_window.h"
#include "scheduler/local_executor.h"
#include "scheduler/register_run.h"
#include "trainers/run_log.h"

namespace driftrun {
namespace {

// Test hook (tests/integration/test_service.py): DRIFTRUN_SERVICE_KILL_AFTER=STATE
// kills the service (SIGKILL, nothing cleaned up) right after the journal
// recorded a job entering STATE: a crash at the worst moment, on demand.
void MaybeCrash(JobState s) {
  const char* at = std::getenv("DRIFTRUN_SERVICE_KILL_AFTER");
  if (at && JobStateName(s) == std::string(at)) std::raise(SIGKILL);
}

Status Move(ServiceContext& ctx, JobRecord* j, JobState s, const std::string& why) {
  const double now = ctx.clock->Seconds();
  if (!IsActive(s) && s != JobState::kRegistered) j->ended_at = now;
  DRIFTRUN_RETURN_IF_ERROR(ctx.journal->UpdateJob(*j, s, why, now));
  const bool same = j->state == s;
  j->state = s;
  j->reason = why;
  if (ctx.say)
    ctx.say("job " + std::to_string(j->id) + " (" + j->model + ") " + JobStateName(s) + ": " + why);
  if (!same) MaybeCrash(s);
  return Status::Ok();
}

// Whether a run of this job still holds its folder (a previous service's job,
// checkpointing after that service died): launching now would be refused.
bool RunFolderBusy(const std::string& run_dir) {
  if (!PathExists(run_dir + "/run.lock")) return false;
  std::string warning;
  auto lock = FileLock::Acquire(run_dir + "/run.lock", "run folder '" + run_dir + "'", &warning);
  return !lock.ok();
}

// retrain.ranks, capped to the executor's ranks: then the most that still
// divide the batch size (every rank trains an equal share of each batch).
int JobRanks(const ServiceContext& ctx, const ModelEntry& m) {
  int ranks = static_cast<int>(m.ranks);
  if (ctx.max_ranks <= 0 || ranks <= ctx.max_ranks) return ranks;
  ranks = ctx.max_ranks;
  while (ranks > 1 && m.batch_size % ranks != 0) --ranks;
  return ranks;
}

Status Launch(ServiceContext& ctx, const ModelEntry& m, JobRecord* j, const std::string& why) {
  const std::string dir = ctx.setup->state + "/jobs/" + std::to_string(j->id);
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
  const std::string config = dir + "/config.toml";
  if (!j->spec.contains("config") || !PathExists(config)) {
    const Status written = WriteJobConfig(ctx, m, j, config);
    if (written.code() == Code::kData) return Move(ctx, j, JobState::kFailed, written.message());
    DRIFTRUN_RETURN_IF_ERROR(written);
  }
  j->run_dir = dir + "/run";
  if (RunFolderBusy(j->run_dir)) return Status::Ok();  // wait for the earlier process to let go
  const int ranks = JobRanks(ctx, m);
  std::string capped;
  if (ranks < m.ranks) {
    capped =
        " (retrain.ranks " + std::to_string(m.ranks) + " capped to the executor's " +
        std::to_string(ctx.max_ranks) +
        (ranks < ctx.max_ranks ? ", then to " + std::to_string(ranks) + " to divide train.batch_size" : "") +
        ")";
  }
  j->attempts += 1;
  if (j->started_at == 0) j->started_at = ctx.clock->Seconds();
  j->spec["attempt_launched_at"] = ctx.clock->Seconds();  // StoppedAtCheckpoint: this attempt's stop only
  j->handle.clear();
  DRIFTRUN_RETURN_IF_ERROR(Move(
      ctx, j, JobState::kRunning,
      why + ": attempt " + std::to_string(j->attempts) + " on " + std::to_string(ranks) + " ranks" + capped));
  auto h = ctx.executor->Launch({j->id, config, j->run_dir, dir + "/train.log", ranks});
  if (!h.ok()) return Move(ctx, j, JobState::kFailed, h.status().message());
  j->handle = h.value();
  return ctx.journal->UpdateJob(*j, JobState::kRunning, j->reason + " (" + j->handle + ")",
                                ctx.clock->Seconds());
}

// The reason a job failed, from its log: the last message of driftrun
// itself ("driftrun train: bad input data: ..."), else the last line that is
// not Open MPI's banner.
std::string LastLogLine(const std::string& log) {
  auto text = ReadFile(log);
  if (!text.ok()) return "";
  std::string ours, other, line;
  for (char c : text.value()) {
    if (c != '\n') {
      line += c;
      continue;
    }
    const size_t at = line.find("driftrun ");
    if (at != std::string::npos && line.find(": ", at) != std::string::npos) {
      ours = line.substr(at);
    } else if (line.find_first_not_of(" \t\r-*=") != std::string::npos &&
               line.find("MPI_ABORT") == std::string::npos && line.find("Exit code") == std::string::npos &&
               line.find("Per user-direction") == std::string::npos) {
      other = line;
    }
    line.clear();
  }
  std::string last = ours.empty() ? other : ours;
  return last.size() > 400 ? last.substr(0, 400) + "..." : last;
}

// Whether the run's last event is a stop at a checkpoint: mpirun reports a
// failure when it was signalled itself (SIGTERM or SIGINT to its process
// group), although every rank checkpointed and exited 0.
// Only a stop this attempt made counts (its time not before the attempt's
// launch): a crash after an earlier stop is not one.
bool StoppedAtCheckpoint(const JobRecord& j) {
  const nlohmann::json e = LastJsonLine(j.run_dir + "/events.jsonl");
  if (!e.is_object() || e.value("event", "") != "stop") return false;
  const double launched = j.spec.value("attempt_launched_at", 0.0);
  return e.value("time", 0.0) >= launched - 1;  // a second of slack between the two clocks' reads
}

// A job stopped by `driftrun signal --stop`: failed, its checkpoint kept.
Status StoppedByHand(ServiceContext& ctx, JobRecord* j) {
  return Move(ctx, j, JobState::kFailed,
              "stopped by hand (" + j->spec.value("stop_requested", "") + "); its checkpoints stay in " +
                  j->run_dir + "/checkpoints");
}

Status OnExit(ServiceContext& ctx, const ModelEntry& m, JobRecord* j, int code) {
  const std::string log = ctx.setup->state + "/jobs/" + std::to_string(j->id) + "/train.log";
  // driftrun train's own error codes (2-5) are never a stop, whatever the
  // run's last event says. Found by a stranger: a resume refused for changed
  // data (exit 3) left the earlier attempt's stop as the last event, and the
  // job was relaunched every poll, for ever.
  const bool own_error = code >= 2 && code <= 5;
  if (code == 0 || (!own_error && StoppedAtCheckpoint(*j))) {
    auto text = ReadFile(j->run_dir + "/summary.json");
    nlohmann::json s = text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
    if (s.is_object() && s.value("status", "") == "done") {
      return Move(ctx, j, JobState::kTrained,
                  std::to_string(s.value("steps", int64_t{0})) + " steps, holdout loss " +
                      s.value("val_loss", nlohmann::json()).dump());
    }
    if (j->spec.contains("stop_requested")) return StoppedByHand(ctx, j);
    if (ctx.stopping) {
      return ctx.journal->UpdateJob(
          *j, JobState::kRunning, "stopped at a checkpoint by the service's shutdown; a restart continues it",
          ctx.clock->Seconds());
    }
    return Launch(ctx, m, j, "relaunched: the job stopped at a checkpoint before its end");
  }
  const std::string last = LastLogLine(log);
  const std::string what =
      (ctx.executor->name() == "pool" ? "the job's ranks ended with exit code " : "driftrun train exited ") +
      std::to_string(code) + (last.empty() ? "" : ": " + last) + " (log: " + log + ")";
  if ((code == 5 || code > 128) && j->attempts < kMaxJobAttempts && !ctx.stopping &&
      !j->spec.contains("stop_requested"))
    return Launch(ctx, m, j, "relaunched after " + what);
  return Move(ctx, j, JobState::kFailed, what);
}

Status Running(ServiceContext& ctx, const ModelEntry& m, JobRecord* j) {
  const JobPoll p = ctx.executor->Poll(j->handle);
  if (p.phase == JobPhase::kRunning) {
    if (ctx.stopping && ctx.stop_sent.insert(j->handle).second) ctx.executor->Stop(j->handle);
    return Status::Ok();
  }
  if (p.phase == JobPhase::kLost) {
    if (j->spec.contains("stop_requested")) return StoppedByHand(ctx, j);
    if (ctx.stopping || ctx.executor->Running() >= ctx.max_jobs || !ctx.executor->CanStart(JobRanks(ctx, m)))
      return Status::Ok();
    return Launch(ctx, m, j, "relaunched: the service restarted while it ran");
  }
  return OnExit(ctx, m, j, p.exit_code);
}

Status EvaluateJob(ServiceContext& ctx, const ModelEntry& m, JobRecord* j) {
  Status st = [&]() -> Status {
    DRIFTRUN_RETURN_IF_ERROR(CheckRunDataUnchanged(j->run_dir));  // its holdout rows are the ones it read
    DRIFTRUN_ASSIGN_OR_RETURN(std::string manifest, RunCheckpoint(j->run_dir));
    DRIFTRUN_ASSIGN_OR_RETURN(CheckpointState ck, ReadCheckpoint(manifest));
    DRIFTRUN_ASSIGN_OR_RETURN(std::string text, ReadFile(j->run_dir + "/config.resolved.toml"));
    DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::FromString(text, j->run_dir + "/config.resolved.toml", {}));
    DRIFTRUN_ASSIGN_OR_RETURN(const Production* prod, ctx.production.Get(m));
    EvaluationInputs in;
    in.challenger = &ck;
    in.challenger_cfg = &cfg;
    in.champion = prod;
    for (const auto& f : j->spec.value("window_batches", nlohmann::json::array()))
      in.window_batches.push_back(f);
    const nlohmann::json reference = j->spec.value("reference", nlohmann::json::object());
    if (reference.value("from", "") == "drift") {
      for (const auto& f : reference.value("files", nlohmann::json::array()))
        in.reference_batches.push_back(f);
    }
    Policy policy = Policy::FromConfig(m.cfg);
    if (prod->version > 0) {
      DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(m.registry));
      DRIFTRUN_ASSIGN_OR_RETURN(policy, reg->GetPolicy(m.name));
    }
    in.tolerance = policy.tolerance;
    DRIFTRUN_ASSIGN_OR_RETURN(Verdict v, Evaluate(in));
    // Found by review: under approval the log and the record said "promoted:"
    // while the version waited for a person.
    const std::string kPromoted = "promoted: ";
    if (m.approval || policy.require_approval) {
      // Fixed at evaluation (found by a stranger: a restart with promote =
      // "auto" promoted a version still waiting for a person).
      j->spec["approval_required"] = true;
      if (v.promote && v.reason.rfind(kPromoted, 0) == 0)
        v.reason = "to be promoted once approved: " + v.reason.substr(kPromoted.size());
    }
    j->verdict = v.ToJson();
    return Move(ctx, j, JobState::kEvaluated, v.reason);
  }();
  if (st.ok() || st.code() == Code::kInfra) return st;
  return Move(ctx, j, JobState::kFailed, "evaluation failed: " + st.message());
}

// What triggered the job, for the registry record: its kind, the batch files
// and their drift reports.
std::string TriggerText(const JobRecord& j, const std::vector<BatchRecord>& batches) {
  if (batches.empty()) return j.trigger + ": driftrun serve job " + std::to_string(j.id);
  std::string files, reports;
  for (const BatchRecord& b : batches) {
    files += (files.empty() ? "" : ", ") + BaseName(b.file);
    if (!b.report.empty()) reports += (reports.empty() ? "" : ", ") + b.report;
  }
  return j.trigger + ": " + files + (reports.empty() ? "" : " (drift report " + reports + ")") +
         "; driftrun serve job " + std::to_string(j.id);
}

Status RegisterJob(ServiceContext& ctx, const ModelEntry& m, JobRecord* j) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<BatchRecord> batches, ctx.journal->JobBatches(j->id));
  nlohmann::json files = nlohmann::json::array(), reports = nlohmann::json::array();
  for (const BatchRecord& b : batches) {
    files.push_back(b.file);
    if (!b.report.empty()) reports.push_back(b.report);
  }
  RegisterRunOptions o;
  o.registry = m.registry;
  // A job queued by an older service has no reference in its spec: training.
  const nlohmann::json reference =
      j->spec.value("reference", nlohmann::json{{"from", "training"}, {"why", "not in the job's spec"}});
  if (reference.value("from", "") == "drift") {
    for (const auto& f : reference.value("files", nlohmann::json::array())) o.profile_files.push_back(f);
  }
  o.trigger = TriggerText(*j, batches);
  o.record_patch = {
      {"metrics", {{"drifted_window", j->verdict.value("drifted_window", nlohmann::json::object())}}},
      {"verdict", j->verdict},
      {"service",
       {{"job", j->id},
        {"trigger", j->trigger},
        {"batches", files},
        {"reports", reports},
        {"window", j->spec.value("window_batches", nlohmann::json::array())},
        {"reference", reference},
        {"warm_from", j->spec.value("warm_from", "")}}}};
  bool existed = false;
  o.existed = &existed;
  auto v = RegisterRun(j->run_dir, o);
  if (!v.ok()) {
    if (v.status().code() == Code::kInfra) return v.status();
    return Move(ctx, j, JobState::kFailed, "registration failed: " + v.status().message());
  }
  j->version = v.value().version;
  return Move(ctx, j, JobState::kRegistered,
              std::string(existed ? "already registered as " : "registered as ") + m.name + ":" +
                  std::to_string(j->version) + " (alias candidate)");
}

Status PromoteJob(ServiceContext& ctx, const ModelEntry& m, JobRecord* j) {
  const std::string label = m.name + ":" + std::to_string(j->version);
  const std::string reason = j->verdict.value("reason", "");
  if (!j->verdict.value("promote", false)) {
    return Move(ctx, j, JobState::kRejected, "stays candidate " + label + ": " + reason);
  }
  const int64_t base = JsonInt(j->spec, "base_version", 0);
  const int64_t compared = JsonInt(j->verdict, "champion", 0);
  if (base > 0 && compared != base) {
    // Found by a stranger: a rollback while the job trained was undone by a
    // version warm-started from the very version rolled back.
    const std::string from = m.name + ":" + std::to_string(base);
    return Move(ctx, j, JobState::kRejected,
                "stays candidate " + label + ": production moved from " + from + " to " +
                    (compared > 0 ? m.name + ":" + std::to_string(compared) : std::string("none")) +
                    " while this job trained from " + from +
                    " (its weights, window and reference; a rollback, say): the service does not undo that; "
                    "promote it by hand (driftrun registry promote) if it should still replace production");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(m.registry));
  DRIFTRUN_ASSIGN_OR_RETURN(Policy policy, reg->GetPolicy(m.name));
  if (m.approval || policy.require_approval || j->spec.value("approval_required", false)) {
    DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, reg->Get({m.name, j->version, ""}));
    if (v.approvals.empty()) {
      const std::string wait = "waiting for approval: driftrun registry approve " + label +
                               " --by NAME --registry " + ShellQuote(m.registry);
      if (j->reason != wait) return Move(ctx, j, JobState::kRegistered, wait);
      return Status::Ok();
    }
  }
  PromoteOptions o;
  o.who = "driftrun-serve";
  o.why = "job " + std::to_string(j->id) + ": " + reason;
  const nlohmann::json h = j->verdict.value("holdout", nlohmann::json::object());
  const int64_t champion = j->verdict.value("champion", int64_t{0});
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t holder, ProductionVersion(m.registry, m.name));
  if (holder != champion && holder != j->version) {
    // Never guess: the verdict compared against another production version.
    return Move(ctx, j, JobState::kRejected,
                "stays candidate " + label + ": production moved to " + m.name + ":" +
                    std::to_string(holder) + " after this job was evaluated against " +
                    (champion > 0 ? m.name + ":" + std::to_string(champion) : std::string("no production")) +
                    "; promote it by hand (driftrun registry promote) if it should still replace it");
  }
  if (h.value("done", false) && holder == champion) {
    // The gate compares the verdict's numbers: both models on the
    // challenger's holdout (else the losses recorded at registration).
    const std::pair<double, double> losses{h.value("challenger_loss", 0.0), h.value("champion_loss", 0.0)};
    o.compare = [losses](const VersionRecord&, const VersionRecord&) -> Result<std::pair<double, double>> {
      return losses;
    };
  }
  auto r = reg->Promote(m.name, j->version, "production", o);
  if (r.ok()) {
    const std::string kWaited = "to be promoted once approved: ";
    const std::string why =
        reason.rfind(kWaited, 0) == 0 ? "approved; " + reason.substr(kWaited.size()) : reason;
    return Move(ctx, j, JobState::kPromoted, "promoted " + label + " to production: " + why);
  }
  if (r.status().code() == Code::kInfra) return r.status();
  return Move(ctx, j, JobState::kRejected, "stays candidate " + label + ": " + r.status().message());
}

}  // namespace

Result<const Production*> ProductionCache::Get(const ModelEntry& m) {
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t v, ProductionVersion(m.registry, m.name));
  auto it = cache_.find(m.name);
  if (it != cache_.end() && it->second->version == v) return it->second.get();
  DRIFTRUN_ASSIGN_OR_RETURN(auto p, LoadProduction(m.registry, m.name, v));
  cache_[m.name] = std::move(p);
  return cache_[m.name].get();
}

Status AdvanceJob(ServiceContext& ctx, JobRecord j) {
  const ModelEntry* m = ctx.setup->Find(j.model);
  if (!m) {
    if (!IsActive(j.state)) return Status::Ok();
    return Move(ctx, &j, JobState::kFailed, "model '" + j.model + "' is no longer in service.models");
  }
  for (int guard = 0; guard < 8; ++guard) {
    const JobState before = j.state;
    switch (j.state) {
      case JobState::kQueued:
        // In queue order (priority, then age): a job that cannot start holds
        // back the ones behind it, so a large job is not starved by small ones.
        if (ctx.stopping || ctx.queue_blocked || ctx.executor->Running() >= ctx.max_jobs ||
            !ctx.executor->CanStart(JobRanks(ctx, *m))) {
          ctx.queue_blocked = true;
          return Status::Ok();
        }
        DRIFTRUN_RETURN_IF_ERROR(Launch(ctx, *m, &j, "started"));
        return Status::Ok();
      case JobState::kRunning: DRIFTRUN_RETURN_IF_ERROR(Running(ctx, *m, &j)); break;
      case JobState::kTrained: DRIFTRUN_RETURN_IF_ERROR(EvaluateJob(ctx, *m, &j)); break;
      case JobState::kEvaluated: DRIFTRUN_RETURN_IF_ERROR(RegisterJob(ctx, *m, &j)); break;
      case JobState::kRegistered: DRIFTRUN_RETURN_IF_ERROR(PromoteJob(ctx, *m, &j)); break;
      default: return Status::Ok();
    }
    if (j.state == before) return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace driftrun
