// A small client for MLflow's REST API (tracking and model registry), on
// cpp-httplib (Debian's libcpp-httplib-dev: http and https). One object per
// thread. Credentials as MLflow's own client takes them from the environment:
// MLFLOW_TRACKING_TOKEN (bearer), else MLFLOW_TRACKING_USERNAME and
// MLFLOW_TRACKING_PASSWORD (basic).
//
// Failures: Status::Usage for a malformed URI; Status::Infra when the server
// cannot be reached or answers 5xx; Status::Data for another error answer,
// its message naming MLflow's error_code (e.g. RESOURCE_ALREADY_EXISTS).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace driftrun {

class MlflowClient {
 public:
  // `uri`: "http(s)://host[:port][/prefix]"; timeouts in seconds.
  static Result<std::unique_ptr<MlflowClient>> Create(const std::string& uri, double connect_timeout_s = 3,
                                                      double read_timeout_s = 20);
  ~MlflowClient();
  MlflowClient(const MlflowClient&) = delete;
  MlflowClient& operator=(const MlflowClient&) = delete;

  const std::string& uri() const { return uri_; }
  // POST /api/2.0/mlflow/<method> with a JSON body.
  Result<nlohmann::json> Post(const std::string& method, const nlohmann::json& body);
  // GET /api/2.0/mlflow/<method>?<query> (values are URL-encoded here).
  Result<nlohmann::json> Get(const std::string& method,
                             const std::vector<std::pair<std::string, std::string>>& query);
  // PUT the bytes of `file` to the server's artifact store at
  // mlflow-artifacts:/<artifact_path> (a server started with artifact serving,
  // MLflow's default).
  Status PutArtifact(const std::string& artifact_path, const std::string& file);

  // The experiment's id, creating it when missing.
  Result<std::string> ExperimentId(const std::string& name);

 private:
  struct Impl;
  MlflowClient(std::string uri, std::unique_ptr<Impl> impl);
  std::string uri_;
  std::unique_ptr<Impl> impl_;
};

// Status::Usage naming mlflow.tracking_uri unless `uri` is empty or
// http(s)://host[:port][/path] (no credentials, query or fragment).
Status CheckTrackingUri(const std::string& uri);

// Whether a Status from the client says MLflow's error_code `code`.
bool IsMlflowError(const Status& s, const std::string& code);

// The artifact path (for PutArtifact) of a run's artifact_uri served by the
// tracking server: "mlflow-artifacts:/1/<run>/artifacts" or
// "mlflow-artifacts://host/1/<run>/artifacts" → "1/<run>/artifacts". False for
// any other store (s3://, file:, ...), which driftrun does not upload to.
bool ArtifactPath(const std::string& artifact_uri, std::string* path);

// A run or model-version tag: {"key": k, "value": v}, the value cut to MLflow's
// 5000-character limit.
nlohmann::json Tag(const std::string& k, const std::string& v);

}  // namespace driftrun
