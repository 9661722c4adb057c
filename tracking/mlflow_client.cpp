#include "tracking/mlflow_client.h"

#include <httplib.h>

#include <cctype>
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

Status CheckTrackingUri(const std::string& uri) {
  const auto bad = [&](const std::string& why) {
    return Status::Usage("mlflow.tracking_uri = \"" + uri + "\": " + why +
                         "; write e.g. \"http://127.0.0.1:5000\" (empty turns MLflow off)");
  };
  if (uri.empty()) return Status::Ok();
  const size_t scheme = uri.find("://");
  std::string s = scheme == std::string::npos ? "" : uri.substr(0, scheme);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s != "http" && s != "https") return bad("not an http(s) URI");
  const size_t path = uri.find('/', scheme + 3);
  const std::string authority =
      uri.substr(scheme + 3, path == std::string::npos ? std::string::npos : path - scheme - 3);
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string::npos)
    return bad(
        "credentials in the URI are not used (and would be logged): set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN");
  if (uri.find_first_of("?# \t") != std::string::npos) return bad("a query, fragment or space");
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
      return bad("the port is not a number from 1 to 65535");
  }
  return Status::Ok();
}

MlflowClient::MlflowClient(std::string uri, std::unique_ptr<Impl> impl)
    : uri_(std::move(uri)), impl_(std::move(impl)) {}

MlflowClient::~MlflowClient() = default;

Result<std::unique_ptr<MlflowClient>> MlflowClient::Create(const std::string& uri_in,
                                                           double connect_timeout_s, double read_timeout_s) {
  if (uri_in.empty()) return Status::Usage("no MLflow tracking URI given");
  DRIFTRUN_RETURN_IF_ERROR(CheckTrackingUri(uri_in));
  std::string uri = uri_in;
  const size_t scheme = uri.find("://");
  for (size_t i = 0; i < scheme; ++i)
    uri[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(uri[i])));
  const size_t path = uri.find('/', scheme + 3);
  const std::string origin = uri.substr(0, path);
  std::string prefix = path == std::string::npos ? "" : uri.substr(path);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
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

bool ArtifactPath(const std::string& artifact_uri, std::string* path) {
  const std::string scheme = "mlflow-artifacts:";
  if (artifact_uri.rfind(scheme, 0) != 0) return false;
  std::string root = artifact_uri.substr(scheme.size());
  if (root.rfind("//", 0) == 0) {  // an authority: skip host[:port]
    const size_t slash = root.find('/', 2);
    root = slash == std::string::npos ? "" : root.substr(slash);
  }
  while (!root.empty() && root.front() == '/') root.erase(0, 1);
  *path = root;
  return true;
}

nlohmann::json Tag(const std::string& k, const std::string& v) {
  return {{"key", k}, {"value", v.substr(0, 5000)}};
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
