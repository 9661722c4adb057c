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
// everything. Metrics queued while a request is in flight go in the next one;
// the end of a run waits at most 30 s for MLflow (a stop signal ends the wait).
// Not thread-safe: call it from the training thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"

namespace driftrun {

struct MlflowWorker;

class MlflowTracker {
 public:
  // Null when mlflow.tracking_uri is empty; Status::Usage for a malformed URI.
  static Result<std::unique_ptr<MlflowTracker>> Create(const Config& cfg, const std::string& code_version);
  ~MlflowTracker();  // Close(nullptr)
  MlflowTracker(const MlflowTracker&) = delete;
  MlflowTracker& operator=(const MlflowTracker&) = delete;

  void Start(const std::string& run_dir, bool resuming);
  // Queues the row's metrics; what is queued goes in one request.
  void LogEpoch(const nlohmann::json& metrics_row);
  // `status`: FINISHED | KILLED | FAILED; `artifacts`: files to upload. Then
  // Close(stop).
  void Finish(const std::string& status, const std::vector<std::string>& artifacts,
              const std::atomic<int>* stop = nullptr);
  // Waits at most 30 s (less when *stop becomes set meanwhile) for what is queued; past that,
  // a warning, and the rest is dropped (the thread finishes its request alone).
  void Close(const std::atomic<int>* stop);

 private:
  explicit MlflowTracker(std::shared_ptr<MlflowWorker> w);
  std::shared_ptr<MlflowWorker> w_;
  std::thread worker_;
};

}  // namespace driftrun
