#include "trainers/run_log.h"

#include <cmath>

#include "common/clock.h"
#include "common/file_util.h"

namespace driftrun {

double UnixTime() {
  return std::floor(WallClock().Seconds() * 1000) / 1000.0;
}

nlohmann::json LastJsonLine(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return nullptr;
  std::string s = text.value();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  nlohmann::json j = nlohmann::json::parse(nl == std::string::npos ? s : s.substr(nl + 1), nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
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

Status DropMetricsAfter(const std::string& dir, int64_t step) {
  const std::string path = dir + "/metrics.jsonl";
  if (!PathExists(path)) return Status::Ok();
  DRIFTRUN_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::string kept;
  bool dropped = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    auto row = nlohmann::json::parse(line, nullptr, false);
    // A torn last line (killed mid-append) is dropped too, and so is the
    // row of an epoch the run ended inside (found by a stranger: the epoch
    // then had two rows); the resumed run writes that epoch's row again.
    const bool partial = row.is_object() && row.contains("partial") && row["partial"] == true;
    if (row.is_discarded() || partial || (row.is_object() && row.value("step", int64_t{0}) > step)) {
      dropped = true;
      continue;
    }
    kept += line + "\n";
  }
  return dropped ? WriteFileAtomic(path, kept) : Status::Ok();
}

}  // namespace driftrun
