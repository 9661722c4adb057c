#include "scheduler/pool_executor.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "common/text.h"

namespace driftrun {
namespace {

std::string RankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s;
}

std::string OneDecimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

}  // namespace

PoolExecutor::PoolExecutor(PoolOptions o, PoolTransport* transport)
    : o_(std::move(o)), t_(transport), placement_(o_.workers, o_.node_of) {
  if (!o_.clock) o_.clock = &WallClock();
}

bool PoolExecutor::CanStart(int ranks) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ranks <= placement_.free();
}

int PoolExecutor::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [h, j] : jobs_) n += j.exited ? 0 : 1;
  return n;
}

std::string PoolExecutor::KeepGroup(const std::vector<int>& ranks) {
  const std::string key = RankList(ranks);
  groups_[key] = ++uses_;
  group_ranks_[key] = ranks;
  ++groups_in_use_[key];
  while (static_cast<int>(groups_.size()) > o_.max_groups) {
    // The least recently used group that no job runs on.
    auto victim = groups_.end();
    for (auto it = groups_.begin(); it != groups_.end(); ++it) {
      if (groups_in_use_[it->first] > 0) continue;
      if (victim == groups_.end() || it->second < victim->second) victim = it;
    }
    if (victim == groups_.end()) break;  // every kept group is busy: keep one more for now
    for (int r : group_ranks_[victim->first]) outbox_.push_back({r, kDrop, {{"key", victim->first}}});
    groups_in_use_.erase(victim->first);
    group_ranks_.erase(victim->first);
    groups_.erase(victim);
  }
  return key;
}

Result<std::string> PoolExecutor::Launch(const JobLaunch& job) {
  std::lock_guard<std::mutex> lock(mu_);
  auto ranks = placement_.Take(job.ranks);
  if (!ranks) {
    return Status::Infra("job " + std::to_string(job.job) + " asks for " + std::to_string(job.ranks) +
                         " ranks but only " + std::to_string(placement_.free()) + " of the pool's " +
                         std::to_string(placement_.size()) + " are free");
  }
  const std::string handle =
      "pool:" + std::to_string(job.job) + ":" + std::to_string(++launches_) + " ranks " + RankList(*ranks);
  PoolJob j;
  j.job = job.job;
  j.ranks = *ranks;
  j.key = KeepGroup(j.ranks);
  j.started = j.last_beat = Now();
  const nlohmann::json start = {{"job", job.job},   {"handle", handle},     {"key", j.key},
                                {"ranks", j.ranks}, {"config", job.config}, {"run_dir", job.run_dir},
                                {"log", job.log}};
  for (int r : j.ranks) outbox_.push_back({r, kStart, start});
  jobs_[handle] = std::move(j);
  return handle;
}

JobPoll PoolExecutor::Poll(const std::string& handle) {
  std::lock_guard<std::mutex> lock(mu_);
  JobPoll p;
  auto it = jobs_.find(handle);
  if (it == jobs_.end()) return p;  // kLost
  if (!it->second.exited) {
    p.phase = JobPhase::kRunning;
    return p;
  }
  p.phase = JobPhase::kExited;
  p.exit_code = it->second.code;
  jobs_.erase(it);
  return p;
}

void PoolExecutor::Stop(const std::string& handle) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(handle);
  if (it == jobs_.end() || it->second.exited) return;
  // The leader: every rank learns it at the next step's agreement.
  outbox_.push_back({it->second.ranks.front(), kStop, {{"job", it->second.job}, {"handle", handle}}});
}

Status PoolExecutor::OnMessage(const PoolMessage& m, int64_t* job) {
  const std::string handle = m.body.value("handle", "");
  auto it = jobs_.find(handle);
  if (it == jobs_.end() || it->second.exited) return Status::Ok();  // a job already ended: late news
  PoolJob& j = it->second;
  j.last_beat = Now();
  if (m.tag == kBeat) {
    j.progress = m.body;
    j.progress.erase("handle");
    j.progress.erase("job");
  } else if (m.tag == kDone) {
    j.exited = true;
    j.code = m.body.value("code", 1);
    placement_.Release(j.ranks);
    --groups_in_use_[j.key];
  } else if (m.tag == kFatal) {
    *job = j.job;
    return Status::Infra("job " + std::to_string(j.job) + " on world ranks " + RankList(j.ranks) +
                         " (its group ranks 0.." + std::to_string(j.ranks.size() - 1) +
                         " in that order), from world rank " + std::to_string(m.source) + ": " +
                         m.body.value("message", "its group failed"));
  }
  return Status::Ok();
}

Status PoolExecutor::CheckHeartbeats(double now, int64_t* job) {
  for (const auto& [handle, j] : jobs_) {
    if (j.exited || now - j.last_beat <= o_.heartbeat_timeout_s) continue;
    *job = j.job;
    const nlohmann::json& p = j.progress;
    return Status::Infra(
        "job " + std::to_string(j.job) + " on world ranks " + RankList(j.ranks) + ": its leader (rank " +
        std::to_string(j.ranks.front()) + ") sent no heartbeat for " + OneDecimal(now - j.last_beat) +
        " s (service.heartbeat_timeout_s = " + FormatDouble(o_.heartbeat_timeout_s) + "); last heard " +
        (p.contains("step")
             ? "after step " + p["step"].dump() + " of " + p.value("total_steps", nlohmann::json()).dump()
             : std::string("before its first step")) +
        ". A rank is stuck (or a step or data load takes longer than the timeout: raise "
        "service.heartbeat_timeout_s). Open MPI cannot cut a rank out of a running world: the service ends "
        "(exit 5); restart it and the job resumes from its last checkpoint");
  }
  return Status::Ok();
}

Result<bool> PoolExecutor::Pump(int64_t* job) {
  std::vector<Outgoing> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(outbox_);
  }
  bool busy = !out.empty();
  for (const Outgoing& o : out) t_->Send(o.to, o.tag, o.body);
  t_->Flush();
  for (int i = 0; i < 64; ++i) {
    auto m = t_->Receive();
    if (!m) break;
    busy = true;
    std::lock_guard<std::mutex> lock(mu_);
    DRIFTRUN_RETURN_IF_ERROR(OnMessage(*m, job));
  }
  std::lock_guard<std::mutex> lock(mu_);
  DRIFTRUN_RETURN_IF_ERROR(CheckHeartbeats(Now(), job));
  return busy;
}

void PoolExecutor::Shutdown(double timeout_s) {
  for (int r : o_.workers) t_->Send(r, kShutdown, nlohmann::json::object());
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (!t_->Flush() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

nlohmann::json PoolExecutor::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = Now();
  nlohmann::json jobs = nlohmann::json::object();
  for (const auto& [handle, j] : jobs_) {
    if (j.exited) continue;
    nlohmann::json e = j.progress;
    e["handle"] = handle;
    e["ranks"] = j.ranks;
    e["one_node"] = placement_.OneNode(j.ranks);
    e["heartbeat_age_s"] = now - j.last_beat;
    e["last_heartbeat"] = j.last_beat;
    jobs[std::to_string(j.job)] = e;
  }
  return {{"workers", placement_.size()},
          {"busy", placement_.size() - placement_.free()},
          {"idle", placement_.free()},
          {"groups_kept", groups_.size()},
          {"jobs", jobs},
          {"at", now}};
}

}  // namespace driftrun
