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

Result<ModelSource> ResolveModelSource(const std::string& model, const std::string& run,
                                       const std::string& registry) {
  if (model.empty() == run.empty())
    return Status::Usage("give exactly one of --model NAME[@ALIAS|:VERSION] or --run RUN_DIR");
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
