// The retraining service's HTTP endpoint ([service] metrics = "host:port"):
// GET /metrics answers the Prometheus text format (scheduler/metrics.h),
// GET / the service dashboard (reports/dashboard.h). cpp-httplib (Debian's
// libcpp-httplib-dev) on its own threads; each scrape reads the journal
// through its own connection, so a scrape never waits for the service loop.
// Loopback only unless [service] metrics_allow_remote = true.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "scheduler/service_setup.h"

namespace driftrun {

struct MetricsServerOptions {
  std::string address;  // "127.0.0.1:9464"; port 0 picks a free one
  bool allow_remote = false;
  const ServiceSetup* setup = nullptr;
  std::string executor;
  std::function<nlohmann::json()> pool_snapshot;  // null: no pool
};

class MetricsServer {
 public:
  // Status::Usage for a malformed or (without allow_remote) non-loopback
  // address; Status::Infra when it cannot listen (the port is taken).
  static Result<std::unique_ptr<MetricsServer>> Start(MetricsServerOptions o);
  ~MetricsServer();  // stops serving
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string host_;
  int port_ = 0;
};

// Splits "host:port" ("[::1]:9464" for IPv6); Status::Usage naming the key
// when it is not one.
Status ParseListenAddress(const std::string& address, std::string* host, int* port);
bool IsLoopback(const std::string& host);

}  // namespace driftrun
