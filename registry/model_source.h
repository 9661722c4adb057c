// Where predict (and other consumers) get a model from: a run folder's newest
// checkpoint and resolved config, or a registered version whose checkpoint
// artifact is checked against its recorded sha256 before use.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "models/checkpoint.h"

namespace driftrun {

struct ModelSource {
  CheckpointState checkpoint;
  Config config;
  std::string label;  // "run runs/x" or "name:3"
  // Every file it was read from (checkpoint data and manifest, config): what
  // no output may overwrite.
  std::vector<std::string> files;
  // For the console: a run that failed (its newest checkpoint may hold the
  // weights that made it fail).
  std::vector<std::string> warnings;
};

// Exactly one of model ("NAME[@ALIAS|:VERSION]"), run (its newest valid
// checkpoint) and checkpoint (a manifest in a run folder's checkpoints/, read
// with that run's config) must be set. registry: the registry folder ("" =
// default ./driftrun-registry).
Result<ModelSource> ResolveModelSource(const std::string& model, const std::string& run,
                                       const std::string& registry, const std::string& checkpoint = "");

// A --checkpoint path: Status::Usage when it does not exist, is not a
// manifest (.json), or (`in_run_folder`) does not lie in a run folder's
// checkpoints/ next to the config.resolved.toml that says how to read inputs.
Status CheckManifestPath(const std::string& ckpt, bool in_run_folder);

struct VersionRecord;
// A registered version's checkpoint (checked against its recorded sha256) and
// resolved config.
Status LoadVersion(const VersionRecord& v, CheckpointState* checkpoint, Config* config);

// The registry folder: --registry, else --config FILE's [registry] path, else the default.
Result<std::string> RegistryPath(const std::string& flag, const std::string& config_path);

}  // namespace driftrun
