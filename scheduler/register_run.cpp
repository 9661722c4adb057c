#include "scheduler/register_run.h"

#include "common/guard.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include "common/config.h"
#include "common/file_util.h"
#include "dataio/tabular_data.h"
#include "dataio/tabular_set.h"
#include "export/exporter.h"
#include "models/checkpoint.h"
#include "monitor/profile.h"
#include "trainers/versions.h"

namespace driftrun {

Result<Profile> ProfileOfFiles(const std::vector<std::string>& files, const std::string& dataset) {
  std::string source;
  for (const std::string& f : files) source += (source.empty() ? "" : ",") + f;
  auto m = ReadFeatureMatrices(files, dataset);
  if (!m.ok()) return m.status().WithContext("computing the reference profile from " + source);
  at::Tensor x = at::from_blob(m.value().x.data(), {m.value().rows, m.value().dim}, at::kFloat);
  return BuildProfile(x, m.value().names, source);
}

static Status WriteReferenceProfile(const std::vector<std::string>& files, const std::string& dataset,
                                    const std::string& out) {
  DRIFTRUN_ASSIGN_OR_RETURN(Profile p, ProfileOfFiles(files, dataset));
  return WriteProfile(out, p);
}

static Result<VersionRecord> RegisterRunImpl(const std::string& run_dir, const RegisterRunOptions& o) {
  std::string manifest = o.checkpoint;
  if (manifest.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(manifest, RunCheckpoint(run_dir));
  }
  std::map<std::string, std::string> lineage = o.lineage;
  if (lineage.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(lineage, RunLineage(run_dir));
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::string summary_text, ReadFile(run_dir + "/summary.json"));
  DRIFTRUN_ASSIGN_OR_RETURN(std::string config_text, ReadFile(run_dir + "/config.resolved.toml"));
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg,
                            Config::FromString(config_text, run_dir + "/config.resolved.toml", {}));
  nlohmann::json summary = nlohmann::json::parse(summary_text, nullptr, false);
  if (summary.is_discarded()) return Status::Data("'" + run_dir + "/summary.json' is corrupt");

  RegisterRequest req;
  req.name = cfg.Str("name");
  req.run_id = lineage["driftrun.run_id"];
  nlohmann::json libs = LibraryVersions();
  req.record = {{"metrics",
                 {{"holdout",
                   {{"loss", summary.value("val_loss", nlohmann::json())},
                    {"metric", summary.value("val_metric", nlohmann::json())},
                    {"metric_name", summary.value("val_metric_name", "")},
                    {"rows", summary.value("val_rows", 0)}}},
                  {"drifted_window", nullptr}}},
                {"config", config_text},
                {"config_hash", summary.value("config_hash", "")},
                {"data_fingerprint", lineage["driftrun.data_fingerprint"]},
                {"code_version", summary.value("code_version", "")},
                {"libraries", libs},
                {"seed", cfg.Int("train.seed")},
                {"world_size", summary.value("world_size", 1)},
                {"kind", cfg.Str("model.kind")},
                {"task", cfg.Str("model.task")},
                {"trigger", o.trigger},
                {"run_dir", AbsolutePath(run_dir)}};
  req.record.merge_patch(o.record_patch);
  req.policy = Policy::FromConfig(cfg);
  req.files["checkpoint"] = manifest.substr(0, manifest.size() - 5) + ".h5";
  req.files["report"] = run_dir + "/summary.json";

  // Reference profile of the training features (tabular models): a version
  // without one could not be monitored, so a profile that cannot be built
  // fails the registration.
  const std::string profile_tmp = run_dir + "/reference-profile.h5";
  if (cfg.Str("model.kind") == "mlp") {
    const std::vector<std::string> files =
        o.profile_files.empty() ? cfg.StrList("data.train") : o.profile_files;
    DRIFTRUN_RETURN_IF_ERROR(WriteReferenceProfile(files, cfg.Str("data.features"), profile_tmp));
    req.files["profile"] = profile_tmp;
  }
  req.make_onnx = [&](int64_t version, int64_t parent, const std::string& path) -> Status {
    std::map<std::string, std::string> meta = lineage;
    meta["driftrun.registry_name"] = req.name;
    meta["driftrun.registry_version"] = std::to_string(version);
    meta["driftrun.parent_version"] = parent > 0 ? std::to_string(parent) : "";
    meta["driftrun.trigger"] = o.trigger;
    return RunExporter(manifest, path, meta).status();
  };
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Create(o.registry));
  auto v = reg->Register(req, o.existed);
  std::remove(profile_tmp.c_str());
  return v;
}

Result<VersionRecord> RegisterRun(const std::string& run_dir, const RegisterRunOptions& o) {
  return Guarded("registering " + run_dir, Code::kInfra, [&] { return RegisterRunImpl(run_dir, o); });
}

}  // namespace driftrun
