#include "tracking/mlflow_tracker.h"

#include <cmath>
#include <cstdio>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "tracking/mlflow_client.h"

namespace driftrun {
namespace {

constexpr size_t kParamsPerBatch = 100;  // MLflow's log-batch limit
constexpr size_t kParamValueMax = 6000;  // MLflow's longest param value

int64_t NowMs() {
  return static_cast<int64_t>(WallClock().Seconds() * 1000);
}

nlohmann::json Tag(const std::string& k, const std::string& v) {
  return {{"key", k}, {"value", v}};
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

Result<std::unique_ptr<MlflowTracker>> MlflowTracker::Create(const Config& cfg,
                                                             const std::string& code_version) {
  const std::string& uri = cfg.Str("mlflow.tracking_uri");
  if (uri.empty()) return std::unique_ptr<MlflowTracker>();
  DRIFTRUN_ASSIGN_OR_RETURN(auto client, MlflowClient::Create(uri));
  return std::unique_ptr<MlflowTracker>(new MlflowTracker(cfg, code_version, std::move(client)));
}

MlflowTracker::MlflowTracker(const Config& cfg, std::string code_version,
                             std::unique_ptr<MlflowClient> client)
    : cfg_(cfg), code_version_(std::move(code_version)), client_(std::move(client)) {
  worker_ = std::thread([this] { Work(); });
}

MlflowTracker::~MlflowTracker() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void MlflowTracker::Queue(std::function<Status()> task) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (failed_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_all();
}

void MlflowTracker::Work() {
  for (;;) {
    std::function<Status()> task;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return closing_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // closing, nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
      if (failed_) continue;
    }
    Status st = task();
    if (!st.ok()) Warn(st);
  }
}

void MlflowTracker::Warn(const Status& st) {
  {
    std::lock_guard<std::mutex> l(mu_);
    failed_ = true;
    tasks_.clear();
  }
  std::fprintf(stderr,
               "warning: MLflow tracking is off for the rest of this run: %s (the run folder has "
               "everything)\n",
               st.message().c_str());
  if (!run_dir_.empty()) Event(run_dir_, {{"ok", false}, {"error", st.message()}});
}

Status MlflowTracker::CreateOrResume(bool resuming) {
  const std::string record = run_dir_ + "/mlflow.json";
  if (resuming) {
    auto text = ReadFile(record);
    auto j = text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
    if (j.is_object() && j.value("tracking_uri", "") == client_->uri() && !j.value("run_id", "").empty()) {
      run_id_ = j["run_id"];
      artifact_root_ = j.value("artifact_uri", "");
      DRIFTRUN_RETURN_IF_ERROR(
          client_->Post("runs/update", {{"run_id", run_id_}, {"status", "RUNNING"}}).status());
      Event(run_dir_, {{"ok", true}, {"run_id", run_id_}, {"resumed", true}});
      return Status::Ok();
    }
  }
  const std::string& experiment =
      cfg_.Str("mlflow.experiment").empty() ? cfg_.Str("name") : cfg_.Str("mlflow.experiment");
  DRIFTRUN_ASSIGN_OR_RETURN(std::string exp_id, client_->ExperimentId(experiment));
  std::string files;
  for (const auto& f : cfg_.StrList("data.train")) files += (files.empty() ? "" : ",") + f;
  nlohmann::json tags = nlohmann::json::array(
      {Tag("driftrun.name", cfg_.Str("name")), Tag("driftrun.run_dir", AbsolutePath(run_dir_)),
       Tag("driftrun.config_hash", cfg_.Hash()), Tag("driftrun.code_version", code_version_),
       Tag("driftrun.data", files.substr(0, kParamValueMax)), Tag("driftrun.kind", cfg_.Str("model.kind")),
       Tag("driftrun.task", cfg_.Str("model.task"))});
  // The registry's run id (export/exporter.h RunLineage): registry export-mlflow
  // finds this run by it.
  auto events = ReadFile(run_dir_ + "/events.jsonl");
  if (events.ok() && !events.value().empty()) {
    const std::string first = events.value().substr(0, events.value().find('\n'));
    tags.push_back(Tag("driftrun.run_id", BaseName(run_dir_) + "-" + Sha256Hex(first).substr(0, 8)));
  }
  if (!cfg_.Str("train.init_from").empty())
    tags.push_back(Tag("driftrun.init_from", cfg_.Str("train.init_from")));
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json run,
                            client_->Post("runs/create", {{"experiment_id", exp_id},
                                                          {"run_name", BaseName(run_dir_)},
                                                          {"start_time", NowMs()},
                                                          {"tags", tags}}));
  run_id_ = run["run"]["info"].value("run_id", "");
  artifact_root_ = run["run"]["info"].value("artifact_uri", "");
  // Params: every resolved key, 100 to a request.
  std::vector<nlohmann::json> params;
  for (const auto& [k, v] : cfg_.Flat())
    params.push_back({{"key", k}, {"value", Unquoted(v).substr(0, kParamValueMax)}});
  for (size_t i = 0; i < params.size(); i += kParamsPerBatch) {
    nlohmann::json batch = nlohmann::json::array();
    for (size_t j = i; j < std::min(params.size(), i + kParamsPerBatch); ++j) batch.push_back(params[j]);
    DRIFTRUN_RETURN_IF_ERROR(
        client_->Post("runs/log-batch", {{"run_id", run_id_}, {"params", batch}}).status());
  }
  const nlohmann::json rec = {{"tracking_uri", client_->uri()},
                              {"experiment_id", exp_id},
                              {"run_id", run_id_},
                              {"artifact_uri", artifact_root_}};
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(record, rec.dump(2) + "\n"));
  Event(run_dir_, {{"ok", true}, {"run_id", run_id_}, {"experiment_id", exp_id}});
  return Status::Ok();
}

void MlflowTracker::Start(const std::string& run_dir, bool resuming) {
  run_dir_ = run_dir;
  Queue([this, resuming] { return CreateOrResume(resuming); });
}

void MlflowTracker::LogEpoch(const nlohmann::json& row) {
  Queue([this, row] {
    nlohmann::json metrics = nlohmann::json::array();
    const int64_t ts = NowMs(), step = row.value("epoch", int64_t{0});
    for (const char* k : {"train_loss", "val_loss", "val_metric", "samples_per_s", "lr"}) {
      if (!row.contains(k) || !row[k].is_number()) continue;  // null: no validation rows
      metrics.push_back({{"key", k}, {"value", row[k].get<double>()}, {"timestamp", ts}, {"step", step}});
    }
    if (row.contains("step_ms") && row["step_ms"].is_object() && row["step_ms"].contains("total"))
      metrics.push_back(
          {{"key", "step_ms"}, {"value", row["step_ms"]["total"]}, {"timestamp", ts}, {"step", step}});
    return client_->Post("runs/log-batch", {{"run_id", run_id_}, {"metrics", metrics}}).status();
  });
}

void MlflowTracker::Finish(const std::string& status, const std::vector<std::string>& artifacts) {
  if (run_dir_.empty()) return;  // the run never started
  Queue([this, status, artifacts] {
    const std::string scheme = "mlflow-artifacts:";
    if (artifact_root_.rfind(scheme, 0) == 0) {
      std::string root = artifact_root_.substr(scheme.size());
      // "mlflow-artifacts:/1/<run>/artifacts" or "mlflow-artifacts://host/1/...": the path part.
      if (root.rfind("//", 0) == 0) root = root.substr(root.find('/', 2));
      while (!root.empty() && root.front() == '/') root.erase(0, 1);
      for (const auto& f : artifacts) {
        if (!PathExists(f)) continue;
        DRIFTRUN_RETURN_IF_ERROR(client_->PutArtifact(root + "/" + BaseName(f), f));
      }
    } else if (!artifacts.empty()) {
      std::fprintf(stderr,
                   "note: MLflow stores this run's artifacts at %s, which driftrun does not upload to; "
                   "the run folder has them\n",
                   artifact_root_.c_str());
    }
    DRIFTRUN_RETURN_IF_ERROR(client_
                                 ->Post("runs/set-tag", {{"run_id", run_id_},
                                                         {"key", "driftrun.status"},
                                                         {"value", status == "FINISHED" ? "done"
                                                                   : status == "KILLED" ? "stopped"
                                                                                        : "failed"}})
                                 .status());
    return client_->Post("runs/update", {{"run_id", run_id_}, {"status", status}, {"end_time", NowMs()}})
        .status();
  });
}

}  // namespace driftrun
