// The retraining service's metrics in the Prometheus text format (version
// 0.0.4), rendered at each scrape from the journal (jobs by state, queue,
// batches, the latest drift scores, retrains by outcome, promotions) and the
// executor's view of running jobs (workers busy and idle; per job its step,
// samples/s, step and all-reduce time, heartbeat age). Served by
// scheduler/metrics_server.h. Every series is prefixed driftrun_.
//
// Thread-safety: a pure function of its inputs; the caller's journal
// connection must not be shared with another thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "scheduler/journal.h"
#include "scheduler/service_setup.h"

namespace driftrun {

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json's move constructor is not noexcept
struct MetricsInputs {
  const ServiceSetup* setup = nullptr;
  Journal* journal = nullptr;
  // PoolExecutor::Snapshot() with the pool executor; null with the local one
  // (a running job's samples/s then come from its metrics.jsonl).
  nlohmann::json pool;
  std::string executor;
};

Result<std::string> RenderMetrics(const MetricsInputs& in);

// A Prometheus label value: backslash, double quote and newline escaped.
std::string PromLabel(const std::string& v);

}  // namespace driftrun
