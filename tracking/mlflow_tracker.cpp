#include "tracking/mlflow_tracker.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "tracking/mlflow_client.h"

namespace driftrun {
namespace {

constexpr size_t kParamsPerBatch = 100;  // MLflow's log-batch limit
constexpr size_t kParamValueMax = 6000;  // MLflow's longest param value
constexpr double kCloseWaitS = 30;       // how long the end of a run waits for MLflow

int64_t NowMs() {
  return static_cast<int64_t>(WallClock().Seconds() * 1000);
}

// A TOML string's text without its quotes ('...' literal or "..." basic);
// numbers, booleans and lists as written.
std::string Unquoted(const std::string& toml) {
  const bool quoted =
      toml.size() >= 2 && (toml.front() == '\'' || toml.front() == '"') && toml.back() == toml.front();
  return quoted ? toml.substr(1, toml.size() - 2) : toml;
}

void Event(const std::string& run_dir, const nlohmann::json& fields) {
  nlohmann::json j = {{"time", WallClock().Seconds()}, {"event", "mlflow"}};
  j.update(fields);
  (void)AppendLine(run_dir + "/events.jsonl",
                   j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

// The tracker's state, shared with its thread: when the tracker stops waiting
// for a hung server, the thread keeps it alive until its request returns.
struct MlflowWorker {
  Config cfg;
  std::string code_version, run_dir;
  std::unique_ptr<MlflowClient> client;
  std::string run_id, artifact_root;  // the thread's
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<Status()>> tasks;          // guarded by mu
  nlohmann::json pending = nlohmann::json::array();   // metrics not sent yet; guarded by mu
  bool flush_queued = false;                          // guarded by mu
  bool closing = false, failed = false, idle = true;  // guarded by mu

  Status CreateOrResume(bool resuming);
  Status Flush();
  void Warn(const Status& st);
  void Queue(std::function<Status()> task);
  void Run();
};

void MlflowWorker::Queue(std::function<Status()> task) {
  {
    std::lock_guard<std::mutex> l(mu);
    if (failed) return;
    tasks.push_back(std::move(task));
  }
  cv.notify_all();
}

void MlflowWorker::Run() {
  for (;;) {
    std::function<Status()> task;
    {
      std::unique_lock<std::mutex> l(mu);
      idle = true;
      cv.notify_all();
      cv.wait(l, [this] { return closing || !tasks.empty(); });
      if (tasks.empty()) return;  // closing, nothing left
      task = std::move(tasks.front());
      tasks.pop_front();
      if (failed) continue;
      idle = false;
    }
    Status st = task();
    if (!st.ok()) Warn(st);
  }
}

void MlflowWorker::Warn(const Status& st) {
  {
    std::lock_guard<std::mutex> l(mu);
    failed = true;
    tasks.clear();
  }
  std::fprintf(stderr,
               "warning: MLflow tracking is off for the rest of this run: %s (the run folder has "
               "everything)\n",
               st.message().c_str());
  if (!run_dir.empty()) Event(run_dir, {{"ok", false}, {"error", st.message()}});
}

// Every metric queued since the last request, in one log-batch (at most
// 1000, MLflow's limit; the rest goes next): a slow server gets fewer, larger
// requests instead of falling behind.
Status MlflowWorker::Flush() {
  nlohmann::json batch = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> l(mu);
    while (!pending.empty() && batch.size() < 1000) {
      batch.push_back(pending[0]);
      pending.erase(pending.begin());
    }
    flush_queued = false;
  }
  if (batch.empty()) return Status::Ok();
  return client->Post("runs/log-batch", {{"run_id", run_id}, {"metrics", batch}}).status();
}

Status MlflowWorker::CreateOrResume(bool resuming) {
  const std::string record = run_dir + "/mlflow.json";
  if (resuming) {
    auto text = ReadFile(record);
    auto j = text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
    if (j.is_object() && j.value("tracking_uri", "") == client->uri() && !j.value("run_id", "").empty()) {
      run_id = j["run_id"];
      artifact_root = j.value("artifact_uri", "");
      DRIFTRUN_RETURN_IF_ERROR(
          client->Post("runs/update", {{"run_id", run_id}, {"status", "RUNNING"}}).status());
      Event(run_dir, {{"ok", true}, {"run_id", run_id}, {"resumed", true}});
      return Status::Ok();
    }
  }
  const std::string& experiment =
      cfg.Str("mlflow.experiment").empty() ? cfg.Str("name") : cfg.Str("mlflow.experiment");
  DRIFTRUN_ASSIGN_OR_RETURN(std::string exp_id, client->ExperimentId(experiment));
  std::string files;
  for (const auto& f : cfg.StrList("data.train")) files += (files.empty() ? "" : ",") + f;
  nlohmann::json tags = nlohmann::json::array(
      {Tag("driftrun.name", cfg.Str("name")), Tag("driftrun.run_dir", AbsolutePath(run_dir)),
       Tag("driftrun.config_hash", cfg.Hash()), Tag("driftrun.code_version", code_version),
       Tag("driftrun.data", files.substr(0, kParamValueMax)), Tag("driftrun.kind", cfg.Str("model.kind")),
       Tag("driftrun.task", cfg.Str("model.task"))});
  // The registry's run id (export/exporter.h RunLineage): registry export-mlflow
  // finds this run by it.
  auto events = ReadFile(run_dir + "/events.jsonl");
  if (events.ok() && !events.value().empty()) {
    const std::string first = events.value().substr(0, events.value().find('\n'));
    tags.push_back(Tag("driftrun.run_id", BaseName(run_dir) + "-" + Sha256Hex(first).substr(0, 8)));
  }
  if (!cfg.Str("train.init_from").empty())
    tags.push_back(Tag("driftrun.init_from", cfg.Str("train.init_from")));
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json run, client->Post("runs/create", {{"experiment_id", exp_id},
                                                                             {"run_name", BaseName(run_dir)},
                                                                             {"start_time", NowMs()},
                                                                             {"tags", tags}}));
  run_id = run["run"]["info"].value("run_id", "");
  artifact_root = run["run"]["info"].value("artifact_uri", "");
  // Params: every resolved key, 100 to a request.
  std::vector<nlohmann::json> params;
  for (const auto& [k, v] : cfg.Flat())
    params.push_back({{"key", k}, {"value", Unquoted(v).substr(0, kParamValueMax)}});
  for (size_t i = 0; i < params.size(); i += kParamsPerBatch) {
    nlohmann::json batch = nlohmann::json::array();
    for (size_t j = i; j < std::min(params.size(), i + kParamsPerBatch); ++j) batch.push_back(params[j]);
    DRIFTRUN_RETURN_IF_ERROR(
        client->Post("runs/log-batch", {{"run_id", run_id}, {"params", batch}}).status());
  }
  const nlohmann::json rec = {{"tracking_uri", client->uri()},
                              {"experiment_id", exp_id},
                              {"run_id", run_id},
                              {"artifact_uri", artifact_root}};
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(record, rec.dump(2) + "\n"));
  Event(run_dir, {{"ok", true}, {"run_id", run_id}, {"experiment_id", exp_id}});
  return Status::Ok();
}

Result<std::unique_ptr<MlflowTracker>> MlflowTracker::Create(const Config& cfg,
                                                             const std::string& code_version) {
  const std::string& uri = cfg.Str("mlflow.tracking_uri");
  if (uri.empty()) return std::unique_ptr<MlflowTracker>();
  DRIFTRUN_ASSIGN_OR_RETURN(auto client, MlflowClient::Create(uri));
  auto w = std::make_shared<MlflowWorker>();
  w->cfg = cfg;
  w->code_version = code_version;
  w->client = std::move(client);
  return std::unique_ptr<MlflowTracker>(new MlflowTracker(std::move(w)));
}

MlflowTracker::MlflowTracker(std::shared_ptr<MlflowWorker> w) : w_(std::move(w)) {
  std::shared_ptr<MlflowWorker> keep = w_;
  worker_ = std::thread([keep] { keep->Run(); });
}

MlflowTracker::~MlflowTracker() {
  Close(nullptr);
}

void MlflowTracker::Close(const std::atomic<int>* stop) {
  if (!worker_.joinable()) return;
  std::unique_lock<std::mutex> l(w_->mu);
  w_->closing = true;
  w_->cv.notify_all();
  // At most kCloseWaitS for what is queued; a stop signal that arrives while
  // waiting ends the wait (one that stopped the run does not).
  const bool stopped_before = stop && stop->load() != 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kCloseWaitS);
  while (!(w_->tasks.empty() && w_->idle)) {
    if (std::chrono::steady_clock::now() >= deadline || (stop && !stopped_before && stop->load() != 0)) {
      const size_t left = w_->tasks.size() + (w_->idle ? 0 : 1);
      w_->failed = true;
      w_->tasks.clear();
      l.unlock();
      std::fprintf(stderr,
                   "warning: MLflow at %s did not take %zu request(s) within %.0f s; driftrun stops waiting "
                   "(the run folder has everything; the MLflow run may stay RUNNING)\n",
                   w_->client->uri().c_str(), left, kCloseWaitS);
      worker_.detach();  // it holds its own reference to the state
      return;
    }
    w_->cv.wait_for(l, std::chrono::milliseconds(100));
  }
  l.unlock();
  worker_.join();
}

void MlflowTracker::Start(const std::string& run_dir, bool resuming) {
  w_->run_dir = run_dir;
  MlflowWorker* w = w_.get();
  w_->Queue([w, resuming] { return w->CreateOrResume(resuming); });
}

void MlflowTracker::LogEpoch(const nlohmann::json& row) {
  const int64_t ts = NowMs(), step = row.value("epoch", int64_t{0});
  std::lock_guard<std::mutex> l(w_->mu);
  if (w_->failed) return;
  for (const char* k : {"train_loss", "val_loss", "val_metric", "samples_per_s", "lr"}) {
    if (!row.contains(k) || !row[k].is_number()) continue;  // null: no validation rows
    w_->pending.push_back({{"key", k}, {"value", row[k].get<double>()}, {"timestamp", ts}, {"step", step}});
  }
  if (row.contains("step_ms") && row["step_ms"].is_object() && row["step_ms"].contains("total"))
    w_->pending.push_back(
        {{"key", "step_ms"}, {"value", row["step_ms"]["total"]}, {"timestamp", ts}, {"step", step}});
  if (w_->flush_queued) return;
  w_->flush_queued = true;
  MlflowWorker* w = w_.get();
  w_->tasks.push_back([w] { return w->Flush(); });
  w_->cv.notify_all();
}

void MlflowTracker::Finish(const std::string& status, const std::vector<std::string>& artifacts,
                           const std::atomic<int>* stop) {
  if (w_->run_dir.empty()) return;  // the run never started
  MlflowWorker* w = w_.get();
  w_->Queue([w, status, artifacts] {
    DRIFTRUN_RETURN_IF_ERROR(w->Flush());
    std::string root;
    if (ArtifactPath(w->artifact_root, &root)) {
      for (const auto& f : artifacts) {
        if (!PathExists(f)) continue;
        DRIFTRUN_RETURN_IF_ERROR(w->client->PutArtifact(root + "/" + BaseName(f), f));
      }
    } else if (!artifacts.empty()) {
      std::fprintf(stderr,
                   "note: MLflow stores this run's artifacts at %s, which driftrun does not upload to; "
                   "the run folder has them\n",
                   w->artifact_root.c_str());
    }
    const std::string tag = status == "FINISHED" ? "done" : status == "KILLED" ? "stopped" : "failed";
    DRIFTRUN_RETURN_IF_ERROR(
        w->client->Post("runs/set-tag", {{"run_id", w->run_id}, {"key", "driftrun.status"}, {"value", tag}})
            .status());
    return w->client->Post("runs/update", {{"run_id", w->run_id}, {"status", status}, {"end_time", NowMs()}})
        .status();
  });
  Close(stop);
}

}  // namespace driftrun
