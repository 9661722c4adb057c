#include "trainers/run_log.h"

#include <chrono>

#include "common/file_util.h"

namespace driftrun {

double UnixTime() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() / 1000.0;
}

Status RunLog::Event(const std::string& event, nlohmann::json fields) const {
  if (!writer()) return Status::Ok();
  nlohmann::json j = {{"time", UnixTime()}, {"event", event}};
  j.update(fields);
  return AppendLine(dir_ + "/events.jsonl", j.dump());
}

Status RunLog::Metrics(const nlohmann::json& row) const {
  if (!writer()) return Status::Ok();
  return AppendLine(dir_ + "/metrics.jsonl", row.dump());
}

Status RunLog::Summary(const nlohmann::json& summary) const {
  if (!writer()) return Status::Ok();
  return WriteFileAtomic(dir_ + "/summary.json", summary.dump(2) + "\n");
}

}  // namespace driftrun
