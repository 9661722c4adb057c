// Logs a `driftrun train` run to MLflow ([mlflow] tracking_uri), from rank 0,
// on its own thread: training only queues. The MLflow run is created when the
// training run starts (experiment [mlflow] experiment, default the config's
// name; run name = the run folder's name); params are the resolved config's
// keys, tags the lineage; each metrics.jsonl row becomes metrics at
// step = epoch; at the end the ONNX file and the run report are uploaded
// (where the server serves artifacts) and the run is ended FINISHED, or KILLED
// for a stopped run. A resumed run continues its MLflow run (RUN/mlflow.json
// keeps the id).
//
// MLflow being down or refusing costs one warning on stderr and an "mlflow"
// event; the tracker then stops talking to it, and the run folder still has
// everything. Not thread-safe: call it from the training thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"

namespace driftrun {

class MlflowClient;

class MlflowTracker {
 public:
  // Null when mlflow.tracking_uri is empty; Status::Usage for a malformed URI.
  static Result<std::unique_ptr<MlflowTracker>> Create(const Config& cfg, const std::string& code_version);
  ~MlflowTracker();  // waits for what is queued (bounded by the client's timeouts)
  MlflowTracker(const MlflowTracker&) = delete;
  MlflowTracker& operator=(const MlflowTracker&) = delete;

  void Start(const std::string& run_dir, bool resuming);
  void LogEpoch(const nlohmann::json& metrics_row);
  // `status`: FINISHED | KILLED | FAILED; `artifacts`: files to upload.
  void Finish(const std::string& status, const std::vector<std::string>& artifacts);

 private:
  MlflowTracker(const Config& cfg, std::string code_version, std::unique_ptr<MlflowClient> client);
  void Queue(std::function<Status()> task);
  void Work();
  Status CreateOrResume(bool resuming);
  void Warn(const Status& st);

  Config cfg_;
  std::string code_version_, run_dir_;
  std::unique_ptr<MlflowClient> client_;  // the worker thread's
  std::string run_id_, artifact_root_;    // the worker thread's
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<Status()>> tasks_;  // guarded by mu_
  bool closing_ = false;                       // guarded by mu_
  bool failed_ = false;                        // guarded by mu_
  std::thread worker_;
};

}  // namespace driftrun
