// Registering a finished run: the record (metrics, config, lineage, library
// versions), the artifacts (ONNX exported for the assigned version, checkpoint,
// reference profile, report) and alias candidate. Idempotent per (run id,
// checkpoint sha256): a run resumed and trained further is a new version.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "monitor/profile.h"
#include "registry/registry.h"

namespace driftrun {

struct RegisterRunOptions {
  std::string registry;            // root folder
  std::string trigger = "manual";  // drift report path, signal id, or "manual"
  // Already known to the caller (train's own export): the run's newest checkpoint
  // and RunLineage(), whose data fingerprint hashes the whole training file.
  // Empty: computed here.
  std::string checkpoint;
  std::map<std::string, std::string> lineage;
  // The files the reference profile is computed from (the service's
  // retrain.reference = "drift"). Empty: the run's data.train.
  std::vector<std::string> profile_files;
  // Merged into the record (the service's verdict, metrics.drifted_window).
  nlohmann::json record_patch = nlohmann::json::object();
  // Out, when given: whether the run (with this checkpoint) was already registered.
  bool* existed = nullptr;
};

Result<VersionRecord> RegisterRun(const std::string& run_dir, const RegisterRunOptions& o);

// The reference profile of the feature dataset `dataset` of `files` (read as
// one table, columns by name).
Result<Profile> ProfileOfFiles(const std::vector<std::string>& files, const std::string& dataset);

}  // namespace driftrun
