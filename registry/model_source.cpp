#include "registry/model_source.h"

#include "common/file_util.h"
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
    src.label = "run " + run + " (checkpoint step " + std::to_string(src.checkpoint.step) +
                (PathExists(run + "/summary.json") ? "" : "; the run has not finished") + ")";
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
