// What the retraining service knows, as one JSON object: `driftrun status
// --json`, the dashboard (`driftrun report --config`, and the service's `/`)
// read it. Gathered from the journal, the registry and, while the service
// runs, its pool snapshot; read-only (the journal through its own connection,
// so any thread may call it while the service writes).
//
//   {state, journal, now, pending_signals, service: {running, holder[, pool]},
//    models: [{name, config, incoming, production, next_trigger_allowed,
//              pending_batches, drift_share_threshold, batches (newest first),
//              jobs (newest first)[, history (the registry's audit trail)]}]}
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "scheduler/service_setup.h"

namespace driftrun {

struct ServiceStatusOptions {
  std::string model;     // "" = every model
  int64_t limit = 5;     // batches and jobs per model
  bool history = false;  // add each model's registry history
  double now = 0;
  // The running service's pool snapshot (null: read <state>/pool.json when
  // the service holds its lock).
  const nlohmann::json* pool = nullptr;
};

struct BatchRecord;
// One journal batch as `driftrun status --json` and `replay --json` print it.
nlohmann::json BatchJson(const BatchRecord& b);

// Status::Usage when the journal does not exist (the service never ran) or
// the model is not in service.models; Status::Infra for an unreadable store.
Result<nlohmann::json> ServiceStatusJson(const ServiceSetup& setup, const ServiceStatusOptions& o);

}  // namespace driftrun
