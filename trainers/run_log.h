// RunLog: the run folder's line-oriented files, written by rank 0 only.
//
//   events.jsonl   one JSON object per event: {"time", "event", ...}
//   metrics.jsonl  one object per epoch: epoch (1-based), step, train_loss, val_loss,
//                  val_metric, samples_per_s (+ lr, wall_s)
//   summary.json   written atomically at the end
// A RunLog for a non-zero rank (or with an empty folder) writes nothing. Write
// failures are returned, never thrown.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace driftrun {

class RunLog {
 public:
  RunLog() = default;
  RunLog(std::string dir, bool writer) : dir_(std::move(dir)), writer_(writer) {}
  const std::string& dir() const { return dir_; }
  bool writer() const { return writer_ && !dir_.empty(); }
  Status Event(const std::string& event, nlohmann::json fields = nlohmann::json::object()) const;
  Status Metrics(const nlohmann::json& row) const;
  Status Summary(const nlohmann::json& summary) const;

 private:
  std::string dir_;
  bool writer_ = false;
};

// Removes metrics.jsonl rows of steps after `step`, rows marked partial (an
// epoch the run ended inside) and a torn last line: a run resumed from the
// checkpoint at `step` writes those rows again.
Status DropMetricsAfter(const std::string& dir, int64_t step);

// `v`, or JSON null when it is NaN (no validation rows, nothing evaluated).
inline nlohmann::json JsonNumberOrNull(double v) {
  return v == v ? nlohmann::json(v) : nlohmann::json();
}

// Seconds since the epoch with millisecond precision, for event timestamps.
double UnixTime();

// The last line of a run's .jsonl file (events.jsonl, metrics.jsonl) as JSON;
// null when the file is missing or empty or its last line is torn.
nlohmann::json LastJsonLine(const std::string& path);

}  // namespace driftrun
