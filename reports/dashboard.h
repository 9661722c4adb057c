// The service dashboard as a page: `driftrun report --config svc.toml --out
// dash.html`, and the service's own `/` when [service] metrics is on. It draws
// the object scheduler/service_status.h gathers (the journal and the
// registry): the queue and running jobs; per model the drift share of each
// batch over time with the trigger threshold and the retrains marked, the
// production version's history (promotions, rollbacks, rejections with the
// verdict's reason), recent batches and jobs. Thread-safe (pure).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace driftrun {

// `status`: ServiceStatusJson(...) with history; `refresh_s` > 0 adds a
// meta refresh (the live page the service serves).
std::string DashboardHtml(const nlohmann::json& status, int refresh_s = 0);

}  // namespace driftrun
