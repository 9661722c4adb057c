#include "scheduler/service_status.h"

#include <algorithm>

#include "common/file_lock.h"
#include "common/file_util.h"
#include "registry/registry.h"
#include "scheduler/batch_score.h"
#include "scheduler/journal.h"
#include "trainers/run_log.h"

namespace driftrun {
namespace {

// A running pool job's ranks and progress from the master's <state>/pool.json
// (only while the service runs: the file is stale otherwise).
nlohmann::json PoolJob(const nlohmann::json& pool, int64_t id, double now) {
  if (!pool.is_object() || !pool.contains("jobs")) return nullptr;
  const nlohmann::json& jobs = pool["jobs"];
  auto it = jobs.find(std::to_string(id));
  if (it == jobs.end()) return nullptr;
  nlohmann::json e = *it;
  e["heartbeat_age_s"] = now - e.value("last_heartbeat", now);
  return e;
}

nlohmann::json JobJson(const JobRecord& j, const nlohmann::json& pool, double now) {
  nlohmann::json o = {{"id", j.id},
                      {"model", j.model},
                      {"state", JobStateName(j.state)},
                      {"trigger", j.trigger},
                      {"priority", j.priority},
                      {"queued_at", j.queued_at},
                      {"started_at", j.started_at},
                      {"ended_at", j.ended_at},
                      {"attempts", j.attempts},
                      {"version", j.version},
                      {"run_dir", j.run_dir},
                      {"reason", j.reason},
                      {"verdict", j.verdict}};
  // What the job trains on: the window's batches, those left out and why, the reference profile's
  // batches, and where its weights start (warm_from; cold_start: why from scratch).
  if (j.spec.is_object()) {
    for (const char* key : {"window_batches", "left_out", "reference", "warm_from", "cold_start"}) {
      if (j.spec.contains(key)) o[key] = j.spec[key];
    }
  }
  if (!j.run_dir.empty()) o["progress"] = LastJsonLine(j.run_dir + "/metrics.jsonl");
  if (j.handle.rfind("slurm:", 0) == 0) o["slurm_job"] = j.handle.substr(6);
  if (j.state == JobState::kRunning) {
    nlohmann::json p = PoolJob(pool, j.id, now);
    if (!p.is_null()) o["pool"] = p;
  }
  return o;
}

Result<nlohmann::json> ModelStatus(Journal& jn, const ModelEntry& m, const nlohmann::json& pool, double now,
                                   int64_t limit) {
  nlohmann::json o = {{"name", m.name}, {"config", m.config_path}, {"incoming", m.incoming}};
  DRIFTRUN_ASSIGN_OR_RETURN(int64_t prod, ProductionVersion(m.registry, m.name));
  DRIFTRUN_RETURN_IF_ERROR(CheckPromotedIsInRegistry(jn, m, prod));
  o["production"] = prod;
  DRIFTRUN_ASSIGN_OR_RETURN(ModelState st, jn.State(m.name, m.trigger.min_rows, m.trigger.window(), now));
  double next = now;
  if (st.last_retrain_end >= 0) next = std::max(next, st.last_retrain_end + m.trigger.cooldown_s);
  if (static_cast<int64_t>(st.queued_times_24h.size()) >= m.trigger.max_per_day &&
      !st.queued_times_24h.empty()) {
    std::sort(st.queued_times_24h.begin(), st.queued_times_24h.end());
    next = std::max(
        next, st.queued_times_24h[st.queued_times_24h.size() - static_cast<size_t>(m.trigger.max_per_day)] +
                  24 * 3600.0);
  }
  o["next_trigger_allowed"] = next;
  o["pending_batches"] = st.pending.size();
  nlohmann::json batches = nlohmann::json::array(), jobs = nlohmann::json::array();
  DRIFTRUN_ASSIGN_OR_RETURN(auto bs, jn.Batches(m.name, limit));
  for (const auto& b : bs) batches.push_back(BatchJson(b));
  DRIFTRUN_ASSIGN_OR_RETURN(auto js, jn.Jobs(m.name, limit));
  for (const auto& j : js) jobs.push_back(JobJson(j, pool, now));
  o["batches"] = batches;
  o["jobs"] = jobs;
  o["drift_share_threshold"] = m.cfg.Float("drift.share");
  return o;
}

// The registry's audit trail of a model (empty when nothing is registered yet).
nlohmann::json History(const ModelEntry& m) {
  if (!PathExists(m.registry + "/registry.db")) return nlohmann::json::array();
  auto reg = Registry::Open(m.registry);
  if (!reg.ok()) return nlohmann::json::array();
  auto h = reg.value()->History(m.name);
  return h.ok() ? h.value() : nlohmann::json::array();
}

}  // namespace

nlohmann::json BatchJson(const BatchRecord& b) {
  return {{"id", b.id},
          {"file", b.file},
          {"sha256", b.sha256},
          {"rows", b.rows},
          {"labelled", b.labelled},
          {"scored_at", b.scored_at},
          {"drifted", b.drifted},
          {"concept", b.concept},
          {"drift_share", b.drift_share},
          {"production", b.production},
          {"decision", b.decision},
          {"reason", b.reason},
          {"report", b.report},
          {"trigger", b.consumed_by},
          {"action", b.action},
          {"scores", b.scores}};
}

Result<nlohmann::json> ServiceStatusJson(const ServiceSetup& setup, const ServiceStatusOptions& o) {
  if (!o.model.empty() && !setup.Find(o.model))
    return Status::Usage("model '" + o.model + "' is not in service.models");
  DRIFTRUN_ASSIGN_OR_RETURN(auto jn, Journal::Open(setup.Journal(), false));
  nlohmann::json out = {{"state", setup.state}, {"journal", setup.Journal()}, {"now", o.now}};
  const std::string holder = LiveLockHolder(setup.state + "/service.lock");
  nlohmann::json pool = o.pool ? *o.pool : nlohmann::json();
  if (pool.is_null() && !holder.empty()) {
    auto text = ReadFile(setup.state + "/pool.json");
    if (text.ok()) pool = nlohmann::json::parse(text.value(), nullptr, false);
    if (pool.is_discarded()) pool = nullptr;
  }
  nlohmann::json models = nlohmann::json::array();
  for (const ModelEntry& m : setup.models) {
    if (!o.model.empty() && m.name != o.model) continue;
    DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json s, ModelStatus(*jn, m, pool, o.now, o.limit));
    if (o.history) s["history"] = History(m);
    models.push_back(std::move(s));
  }
  out["models"] = models;
  DRIFTRUN_ASSIGN_OR_RETURN(auto sigs, jn->PendingSignals());
  out["pending_signals"] = sigs.size();
  out["service"] = {{"running", !holder.empty()}, {"holder", holder}};
  if (pool.is_object()) {
    out["service"]["pool"] = {{"workers", pool.value("workers", 0)},
                              {"busy", pool.value("busy", 0)},
                              {"idle", pool.value("idle", 0)}};
  }
  return out;
}

}  // namespace driftrun
