#include "registry/model_source.h"

#include "common/file_util.h"

#include <nlohmann/json.hpp>
#include <sstream>
#include "registry/registry.h"

namespace driftrun {

Result<std::string> RegistryPath(const std::string& flag, const std::string& config_path) {
  if (!flag.empty()) return flag;
  if (!config_path.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(config_path, {}));
    return cfg.Str("registry.path");
  }
  return std::string("driftrun-registry");
}

// A warning when the run's last attempt failed (its last start, resume, stop
// or error event is an error): the newest checkpoint may be the diverged one.
static std::vector<std::string> RunFailure(const std::string& run, const std::string& ckpt) {
  auto text = ReadFile(run + "/events.jsonl");
  if (!text.ok()) return {};
  nlohmann::json last;
  std::istringstream lines(text.value());
  for (std::string line; std::getline(lines, line);) {
    auto e = nlohmann::json::parse(line, nullptr, false);
    if (!e.is_object()) continue;
    const std::string ev = e.value("event", "");
    if (ev == "start" || ev == "resume" || ev == "stop" || ev == "error") last = e;
  }
  if (!last.is_object() || last.value("event", "") != "error") return {};
  std::string at;
  if (last.contains("step") && last["step"].is_number())
    at = " at step " + std::to_string(last["step"].get<int64_t>());
  return {
      "run '" + run + "' failed" + at + " (" + last.value("reason", std::string("see its events.jsonl")) +
      "): its newest checkpoint " + ckpt +
      " may hold the weights that made it fail; treat these predictions with care, or resume the run with a "
      "fix first"};
}

// One checkpoint of a run folder (found by a stranger: predict advised "use
// an older one explicitly" for a damaged newest checkpoint, and had no way to).
Status CheckManifestPath(const std::string& ckpt, bool in_run_folder) {
  // Found by a stranger: export's missing manifest was exit 3 ("cannot be read").
  if (!PathExists(ckpt)) {
    return Status::Usage("checkpoint manifest '" + ckpt +
                         "' does not exist; a run's are in RUN_DIR/checkpoints/");
  }
  const std::string dir = DirName(AbsolutePath(ckpt));
  if (!in_run_folder) {
    if (EndsWith(ckpt, ".json")) return Status::Ok();
    return Status::Usage("--checkpoint takes a checkpoint manifest (ckpt-*.json), not '" + ckpt + "'");
  }
  if (EndsWith(ckpt, ".json") && BaseName(dir) == "checkpoints" &&
      PathExists(DirName(dir) + "/config.resolved.toml"))
    return Status::Ok();
  return Status::Usage(
      "--checkpoint takes a checkpoint manifest (ckpt-*.json) in a run folder's checkpoints/ "
      "(its config.resolved.toml says how to read the inputs), not '" +
      ckpt + "'");
}

static Result<ModelSource> CheckpointSource(const std::string& ckpt) {
  DRIFTRUN_RETURN_IF_ERROR(CheckManifestPath(ckpt, true));
  const std::string run = DirName(DirName(AbsolutePath(ckpt)));
  ModelSource src;
  DRIFTRUN_ASSIGN_OR_RETURN(src.checkpoint, ReadCheckpoint(ckpt));
  DRIFTRUN_ASSIGN_OR_RETURN(src.config, Config::Load(run + "/config.resolved.toml", {}));
  src.files = {ckpt, ckpt.substr(0, ckpt.size() - 5) + ".h5", run + "/config.resolved.toml"};
  src.label =
      "run " + run + " (checkpoint " + BaseName(ckpt) + ", step " + std::to_string(src.checkpoint.step) + ")";
  return src;
}

Result<ModelSource> ResolveModelSource(const std::string& model, const std::string& run,
                                       const std::string& registry, const std::string& checkpoint) {
  if (static_cast<int>(!model.empty()) + static_cast<int>(!run.empty()) +
          static_cast<int>(!checkpoint.empty()) !=
      1)
    return Status::Usage(
        "give exactly one of --model NAME[@ALIAS|:VERSION], --run RUN_DIR or --checkpoint "
        "RUN_DIR/checkpoints/"
        "ckpt-N.json");
  if (!checkpoint.empty()) return CheckpointSource(checkpoint);
  ModelSource src;
  if (!run.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::string ckpt, RunCheckpoint(run));
    DRIFTRUN_ASSIGN_OR_RETURN(src.checkpoint, ReadCheckpoint(ckpt));
    DRIFTRUN_ASSIGN_OR_RETURN(src.config, Config::Load(run + "/config.resolved.toml", {}));
    src.files = {ckpt, ckpt.substr(0, ckpt.size() - 5) + ".h5", run + "/config.resolved.toml"};
    // Which weights: a run resumed and stopped predicts with its newest checkpoint.
    const bool finished = PathExists(run + "/summary.json");
    src.label = "run " + run + " (checkpoint step " + std::to_string(src.checkpoint.step) +
                (finished ? "" : "; the run has not finished") + ")";
    if (!finished) src.warnings = RunFailure(run, ckpt);
    return src;
  }
  DRIFTRUN_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(model));
  DRIFTRUN_ASSIGN_OR_RETURN(std::string root, RegistryPath(registry, ""));
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(root));
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, reg->Get(ref));
  src.label = v.name + ":" + std::to_string(v.version);
  DRIFTRUN_RETURN_IF_ERROR(LoadVersion(v, &src.checkpoint, &src.config));
  for (const auto& a : v.artifacts) src.files.push_back(a.path);
  return src;
}

Status LoadVersion(const VersionRecord& v, CheckpointState* checkpoint, Config* config) {
  const std::string label = v.name + ":" + std::to_string(v.version);
  const Artifact* ck = v.Find("checkpoint");
  if (!ck) return Status::Data(label + " has no checkpoint artifact");
  auto state = ReadCheckpointData(ck->path, ck->sha256);
  if (!state.ok()) {
    return state.status().WithContext(label +
                                      " (run `driftrun registry verify`; the artifact store is damaged)");
  }
  *checkpoint = state.take();
  DRIFTRUN_ASSIGN_OR_RETURN(*config, Config::FromString(v.record.value("config", ""), label + " config", {}));
  return Status::Ok();
}

}  // namespace driftrun
