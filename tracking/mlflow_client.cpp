#include "tracking/mlflow_client.h"

#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace driftrun {

struct MlflowClient::Impl {
  explicit Impl(const std::string& origin) : cli(origin) {}
  httplib::Client cli;
  std::string prefix;  // a path the server is mounted under ("" or "/mlflow")
};

namespace {

std::string Encode(const std::string& s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      o += static_cast<char>(c);
    } else {
      o += '%';
      o += kHex[c >> 4];
      o += kHex[c & 15];
    }
  }
  return o;
}

// The answer to one request: its JSON body, or a Status naming what failed.
Result<nlohmann::json> Answer(const httplib::Result& res, const std::string& uri, const std::string& what) {
  if (!res) {
    return Status::Infra("MLflow at " + uri + " is unreachable (" + httplib::to_string(res.error()) +
                         ") for " + what);
  }
  nlohmann::json body =
      res->body.empty() ? nlohmann::json::object() : nlohmann::json::parse(res->body, nullptr, false);
  if (res->status >= 200 && res->status < 300) {
    if (body.is_discarded())
      return Status::Infra("MLflow at " + uri + " answered " + what + " with non-JSON");
    return body;
  }
  std::string code = body.is_object() ? body.value("error_code", "") : "";
  std::string msg = body.is_object() ? body.value("message", "") : res->body.substr(0, 300);
  const std::string text = "MLflow at " + uri + " refused " + what + ": HTTP " + std::to_string(res->status) +
                           (code.empty() ? "" : " " + code) + (msg.empty() ? "" : ": " + msg);
  return res->status >= 500 ? Status::Infra(text) : Status::Data(text);
}

}  // namespace

MlflowClient::MlflowClient(std::string uri, std::unique_ptr<Impl> impl)
    : uri_(std::move(uri)), impl_(std::move(impl)) {}

MlflowClient::~MlflowClient() = default;

Result<std::unique_ptr<MlflowClient>> MlflowClient::Create(const std::string& uri, double connect_timeout_s,
                                                           double read_timeout_s) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos ||
      (uri.compare(0, scheme, "http") != 0 && uri.compare(0, scheme, "https") != 0)) {
    return Status::Usage(
        "mlflow.tracking_uri = \"" + uri +
        "\": not an http(s) URI; write e.g. \"http://127.0.0.1:5000\" (empty turns MLflow off)");
  }
  const size_t path = uri.find('/', scheme + 3);
  const std::string origin = uri.substr(0, path);
  std::string prefix = path == std::string::npos ? "" : uri.substr(path);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (origin.size() <= scheme + 3)
    return Status::Usage("mlflow.tracking_uri = \"" + uri +
                         "\": no host; write e.g. \"http://127.0.0.1:5000\"");
  auto impl = std::make_unique<Impl>(origin);
  if (!impl->cli.is_valid())
    return Status::Usage("mlflow.tracking_uri = \"" + uri + "\": not a valid server URI");
  impl->prefix = prefix;
  auto us = [](double s) { return static_cast<time_t>(s * 1e6) % 1000000; };
  impl->cli.set_connection_timeout(static_cast<time_t>(connect_timeout_s), us(connect_timeout_s));
  impl->cli.set_read_timeout(static_cast<time_t>(read_timeout_s), us(read_timeout_s));
  impl->cli.set_write_timeout(static_cast<time_t>(read_timeout_s), us(read_timeout_s));
  impl->cli.set_keep_alive(true);
  if (const char* token = std::getenv("MLFLOW_TRACKING_TOKEN"); token && *token) {
    impl->cli.set_bearer_token_auth(token);
  } else if (const char* user = std::getenv("MLFLOW_TRACKING_USERNAME"); user && *user) {
    const char* pass = std::getenv("MLFLOW_TRACKING_PASSWORD");
    impl->cli.set_basic_auth(user, pass ? pass : "");
  }
  return std::unique_ptr<MlflowClient>(new MlflowClient(uri, std::move(impl)));
}

Result<nlohmann::json> MlflowClient::Post(const std::string& method, const nlohmann::json& body) {
  auto res = impl_->cli.Post(impl_->prefix + "/api/2.0/mlflow/" + method,
                             body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                             "application/json");
  return Answer(res, uri_, method);
}

Result<nlohmann::json> MlflowClient::Get(const std::string& method,
                                         const std::vector<std::pair<std::string, std::string>>& query) {
  std::string q;
  for (const auto& [k, v] : query) q += (q.empty() ? "?" : "&") + Encode(k, false) + "=" + Encode(v, false);
  auto res = impl_->cli.Get(impl_->prefix + "/api/2.0/mlflow/" + method + q);
  return Answer(res, uri_, method);
}

Status MlflowClient::PutArtifact(const std::string& artifact_path, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::Data("cannot read '" + file + "' to upload it to MLflow");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto res =
      impl_->cli.Put(impl_->prefix + "/api/2.0/mlflow-artifacts/artifacts/" + Encode(artifact_path, true),
                     bytes.str(), "application/octet-stream");
  return Answer(res, uri_, "uploading " + artifact_path).status();
}

Result<std::string> MlflowClient::ExperimentId(const std::string& name) {
  auto got = Get("experiments/get-by-name", {{"experiment_name", name}});
  if (got.ok()) return got.value()["experiment"].value("experiment_id", "");
  if (!IsMlflowError(got.status(), "RESOURCE_DOES_NOT_EXIST")) return got.status();
  auto made = Post("experiments/create", {{"name", name}});
  if (made.ok()) return made.value().value("experiment_id", "");
  if (!IsMlflowError(made.status(), "RESOURCE_ALREADY_EXISTS")) return made.status();
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json again,
                            Get("experiments/get-by-name", {{"experiment_name", name}}));
  return again["experiment"].value("experiment_id", "");
}

bool IsMlflowError(const Status& s, const std::string& code) {
  return !s.ok() && s.message().find(" " + code) != std::string::npos;
}

}  // namespace driftrun
