#include "scheduler/metrics.h"

#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include "trainers/run_log.h"

namespace driftrun {
namespace {

class Out {
 public:
  void Family(const std::string& name, const std::string& type, const std::string& help) {
    s_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void Sample(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
              double v) {
    s_ << name;
    if (!labels.empty()) {
      s_ << "{";
      for (size_t i = 0; i < labels.size(); ++i)
        s_ << (i ? "," : "") << labels[i].first << "=\"" << PromLabel(labels[i].second) << "\"";
      s_ << "}";
    }
    char buf[40];
    std::snprintf(buf, sizeof(buf), " %.17g\n", v);
    s_ << buf;
  }
  std::string str() const { return s_.str(); }

 private:
  std::ostringstream s_;
};

constexpr const char* kStates[] = {"queued",     "running",  "trained",  "evaluated",
                                   "registered", "promoted", "rejected", "failed"};

void JobFamilies(Out& o, const ServiceSetup& setup, const JournalCounts& c) {
  o.Family("driftrun_jobs", "gauge", "Jobs of the retraining service by model and state.");
  int64_t queued = 0;
  for (const ModelEntry& m : setup.models) {
    for (const char* st : kStates) {
      auto it = c.jobs.find({m.name, st});
      const int64_t n = it == c.jobs.end() ? 0 : it->second;
      if (std::string(st) == "queued") queued += n;
      o.Sample("driftrun_jobs", {{"model", m.name}, {"state", st}}, static_cast<double>(n));
    }
  }
  o.Family("driftrun_queue_length", "gauge", "Jobs waiting for ranks or for a free job slot.");
  o.Sample("driftrun_queue_length", {}, static_cast<double>(queued));
  o.Family("driftrun_retrains_total", "counter",
           "Finished jobs by model and outcome (promoted, rejected, failed).");
  for (const ModelEntry& m : setup.models) {
    for (const char* st : {"promoted", "rejected", "failed"}) {
      auto it = c.jobs.find({m.name, st});
      o.Sample("driftrun_retrains_total", {{"model", m.name}, {"outcome", st}},
               it == c.jobs.end() ? 0.0 : static_cast<double>(it->second));
    }
  }
  o.Family("driftrun_last_promotion_timestamp_seconds", "gauge",
           "Unix time of the model's last promotion to production by the service.");
  for (const auto& [model, at] : c.last_promotion)
    o.Sample("driftrun_last_promotion_timestamp_seconds", {{"model", model}}, at);
}

Status DriftFamilies(Out& o, const ServiceSetup& setup, Journal& jn, const JournalCounts& c) {
  o.Family("driftrun_batches_checked_total", "counter", "Incoming batches the service recorded, per model.");
  for (const ModelEntry& m : setup.models) {
    auto it = c.batches.find(m.name);
    o.Sample("driftrun_batches_checked_total", {{"model", m.name}},
             it == c.batches.end() ? 0.0 : static_cast<double>(it->second));
  }
  o.Family("driftrun_drift_share", "gauge", "Share of drifted features in the model's latest scored batch.");
  std::vector<std::pair<std::string, nlohmann::json>> latest;
  for (const ModelEntry& m : setup.models) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<BatchRecord> bs, jn.Batches(m.name, 20));
    for (const BatchRecord& b : bs) {
      if (!b.scores.contains("drift")) continue;
      o.Sample("driftrun_drift_share", {{"model", m.name}}, b.drift_share);
      latest.push_back({m.name, b.scores["drift"].value("features", nlohmann::json::object())});
      break;
    }
  }
  o.Family("driftrun_feature_drift_score", "gauge",
           "Per feature of the latest scored batch: the drift statistic that decided (label statistic).");
  for (const auto& [model, feats] : latest) {
    for (auto it = feats.begin(); it != feats.end(); ++it) {
      o.Sample("driftrun_feature_drift_score",
               {{"model", model}, {"feature", it.key()}, {"statistic", it.value().value("decided_by", "")}},
               it.value().value("score", 0.0));
    }
  }
  o.Family("driftrun_feature_drifted", "gauge", "Per feature of the latest scored batch: 1 when it drifted.");
  for (const auto& [model, feats] : latest) {
    for (auto it = feats.begin(); it != feats.end(); ++it)
      o.Sample("driftrun_feature_drifted", {{"model", model}, {"feature", it.key()}},
               it.value().value("drifted", false) ? 1.0 : 0.0);
  }
  return Status::Ok();
}

// Running jobs: from the pool's heartbeats, else the run's last metrics row.
Status RunningFamilies(Out& o, const MetricsInputs& in) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<JobRecord> running, in.journal->JobsIn(JobState::kRunning));
  const bool pool = in.pool.is_object();
  if (pool) {
    o.Family("driftrun_workers", "gauge", "Worker ranks of the pool by state.");
    o.Sample("driftrun_workers", {{"state", "busy"}}, in.pool.value("busy", 0));
    o.Sample("driftrun_workers", {{"state", "idle"}}, in.pool.value("idle", 0));
  }
  struct Series {
    const char* name;
    const char* key;
    const char* help;
  };
  const Series series[] = {
      {"driftrun_job_step", "step", "Optimizer steps the running job has done."},
      {"driftrun_job_samples_per_second", "samples_per_s", "Training throughput of the running job."},
      {"driftrun_job_step_seconds", "step_s", "Wall time of the job's last step (forward to optimizer)."},
      {"driftrun_job_allreduce_seconds", "allreduce_s", "Time of the last step spent waiting for gradients."},
      {"driftrun_job_heartbeat_age_seconds", "heartbeat_age_s",
       "Seconds since the job leader's last heartbeat."}};
  std::map<int64_t, nlohmann::json> progress;
  for (const JobRecord& j : running) {
    nlohmann::json p;
    if (pool) {
      auto it = in.pool["jobs"].find(std::to_string(j.id));
      if (it != in.pool["jobs"].end()) p = *it;
    } else if (!j.run_dir.empty()) {
      p = LastJsonLine(j.run_dir + "/metrics.jsonl");
    }
    if (p.is_object()) progress[j.id] = p;
  }
  for (const Series& s : series) {
    o.Family(s.name, "gauge", s.help);
    for (const JobRecord& j : running) {
      auto it = progress.find(j.id);
      if (it == progress.end() || !it->second.contains(s.key) || !it->second[s.key].is_number()) continue;
      o.Sample(s.name, {{"job", std::to_string(j.id)}, {"model", j.model}}, it->second[s.key].get<double>());
    }
  }
  return Status::Ok();
}

}  // namespace

std::string PromLabel(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

Result<std::string> RenderMetrics(const MetricsInputs& in) {
  Out o;
  o.Family("driftrun_up", "gauge", "1 while the retraining service answers.");
  o.Sample("driftrun_up", {{"executor", in.executor}}, 1);
  DRIFTRUN_ASSIGN_OR_RETURN(JournalCounts c, in.journal->Counts());
  JobFamilies(o, *in.setup, c);
  DRIFTRUN_RETURN_IF_ERROR(DriftFamilies(o, *in.setup, *in.journal, c));
  DRIFTRUN_RETURN_IF_ERROR(RunningFamilies(o, in));
  return o.str();
}

}  // namespace driftrun
