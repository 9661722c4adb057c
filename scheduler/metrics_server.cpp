#include "scheduler/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <thread>

#include "common/clock.h"
#include "reports/dashboard.h"
#include "scheduler/journal.h"
#include "scheduler/metrics.h"
#include "scheduler/service_status.h"

namespace driftrun {

struct MetricsServer::Impl {
  MetricsServerOptions o;
  httplib::Server server;
  std::thread thread;
};

Status ParseListenAddress(const std::string& address, std::string* host, int* port) {
  const auto bad = [&](const std::string& why) {
    return Status::Usage("service.metrics = \"" + address + "\": " + why +
                         "; write \"host:port\", e.g. \"127.0.0.1:9464\" (empty turns metrics off)");
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("no host:port");
  std::string h = address.substr(0, colon);
  const std::string p = address.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return bad("bad port");
  const int n = std::stoi(p);
  if (n > 65535) return bad("port above 65535");
  *host = h;
  *port = n;
  return Status::Ok();
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(MetricsServerOptions o) {
  std::string host;
  int port = 0;
  DRIFTRUN_RETURN_IF_ERROR(ParseListenAddress(o.address, &host, &port));
  if (!IsLoopback(host) && !o.allow_remote) {
    return Status::Usage("service.metrics = \"" + o.address +
                         "\" listens beyond this machine; metrics name models and features, so that needs "
                         "service.metrics_allow_remote = true (or use 127.0.0.1)");
  }
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(o);
  Impl* self = impl.get();
  self->server.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    auto jn = Journal::Open(self->o.setup->Journal(), false);
    Result<std::string> text = jn.status();
    if (jn.ok()) {
      MetricsInputs in;
      in.setup = self->o.setup;
      in.journal = jn.value().get();
      in.executor = self->o.executor;
      if (self->o.pool_snapshot) in.pool = self->o.pool_snapshot();
      text = RenderMetrics(in);
    }
    if (!text.ok()) {
      res.status = 503;
      res.set_content("driftrun: " + text.status().message() + "\n", "text/plain");
      return;
    }
    res.set_content(text.value(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // The dashboard (reports/dashboard.h), redrawn from the journal and the
  // registry at each request; it refreshes itself every 10 s.
  self->server.Get("/", [self](const httplib::Request&, httplib::Response& res) {
    ServiceStatusOptions so;
    so.limit = 100;
    so.history = true;
    so.now = WallClock().Seconds();
    const nlohmann::json pool = self->o.pool_snapshot ? self->o.pool_snapshot() : nlohmann::json();
    if (self->o.pool_snapshot) so.pool = &pool;
    auto status = ServiceStatusJson(*self->o.setup, so);
    if (!status.ok()) {
      res.status = 503;
      res.set_content("driftrun: " + status.status().message() + "\n", "text/plain");
      return;
    }
    res.set_content(DashboardHtml(status.value(), 10), "text/html; charset=utf-8");
  });
  // Not httplib's default (SO_REUSEPORT): a second service on a port that is
  // in use must fail to listen, not share it and answer half the scrapes.
  self->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  int bound = port;
  if (port == 0) {
    bound = self->server.bind_to_any_port(host);
  } else if (!self->server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return Status::Infra("cannot listen on " + self->o.address +
                         " for service.metrics (the port is taken, or the host is not this machine's); "
                         "choose another port or set service.metrics = \"\"");
  }
  self->thread = std::thread([self] { self->server.listen_after_bind(); });
  std::unique_ptr<MetricsServer> s(new MetricsServer(std::move(impl)));
  s->host_ = host;
  s->port_ = bound;
  return s;
}

}  // namespace driftrun
