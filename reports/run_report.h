// RUN/report.html: a training run as a page, built from the files of its run
// folder alone (metrics.jsonl, summary.json, events.jsonl,
// config.resolved.toml, the newest checkpoint's preprocessing): loss and
// metric curves per epoch (train and validation), samples/s, where a step's
// time went, the lineage (data, warm start, export, registration), the
// preprocessing per column and the resolved config. Works on a run that is
// still going or was stopped (it says so). No LibTorch; thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace driftrun {

// Status::Usage when `run_dir` holds no run (no events.jsonl / summary.json).
Result<std::string> RunReportHtml(const std::string& run_dir);

// Writes RUN/report.html atomically; returns its path.
Result<std::string> WriteRunReport(const std::string& run_dir);

}  // namespace driftrun
