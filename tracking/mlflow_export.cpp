#include "tracking/mlflow_export.h"

#include <map>
#include <set>

#include "common/clock.h"
#include "common/file_util.h"
#include "registry/registry.h"
#include "tracking/mlflow_client.h"

namespace driftrun {
namespace {

std::string TagValue(const nlohmann::json& tags, const std::string& key) {
  if (!tags.is_array()) return "";
  for (const auto& t : tags)
    if (t.value("key", "") == key) return t.value("value", "");
  return "";
}

// MLflow version per driftrun version, from the versions' driftrun.version tags.
Result<std::map<int64_t, std::string>> Mirrored(MlflowClient& c, const std::string& name) {
  std::map<int64_t, std::string> out;
  std::string token;
  do {
    std::vector<std::pair<std::string, std::string>> q = {{"filter", "name='" + name + "'"},
                                                          {"max_results", "200"}};
    if (!token.empty()) q.push_back({"page_token", token});
    DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json r, c.Get("model-versions/search", q));
    for (const auto& v : r.value("model_versions", nlohmann::json::array())) {
      const std::string dv = TagValue(v.value("tags", nlohmann::json()), "driftrun.version");
      if (!dv.empty()) out[std::stoll(dv)] = v.value("version", "");
    }
    token = r.value("next_page_token", "");
  } while (!token.empty());
  return out;
}

// The MLflow run that tracked the version's training run: the one its run
// folder's mlflow.json names on this server (whatever experiment it went to),
// else one tagged with its driftrun.run_id in the model's experiment, else a
// new run for the version.
Result<std::string> RunFor(MlflowClient& c, const std::string& exp_id, const VersionRecord& v,
                           std::string* artifact_uri) {
  const std::string run_dir = v.record.value("run_dir", "");
  auto text = run_dir.empty() ? Result<std::string>(Status::Data("")) : ReadFile(run_dir + "/mlflow.json");
  const nlohmann::json rec =
      text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
  if (rec.is_object() && rec.value("tracking_uri", "") == c.uri() && !rec.value("run_id", "").empty()) {
    auto got = c.Get("runs/get", {{"run_id", rec.value("run_id", "")}});
    if (got.ok() && got.value()["run"]["info"].value("lifecycle_stage", "active") == "active") {
      *artifact_uri = got.value()["run"]["info"].value("artifact_uri", "");
      return got.value()["run"]["info"].value("run_id", "");
    }
  }
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json found,
                            c.Post("runs/search", {{"experiment_ids", {exp_id}},
                                                   {"filter", "tags.`driftrun.run_id` = '" + v.run_id + "'"},
                                                   {"max_results", 1}}));
  if (found.contains("runs") && !found["runs"].empty()) {
    *artifact_uri = found["runs"][0]["info"].value("artifact_uri", "");
    return found["runs"][0]["info"].value("run_id", "");
  }
  const int64_t now = static_cast<int64_t>(WallClock().Seconds() * 1000);
  DRIFTRUN_ASSIGN_OR_RETURN(
      nlohmann::json run,
      c.Post("runs/create",
             {{"experiment_id", exp_id},
              {"run_name", v.name + " v" + std::to_string(v.version) + " (driftrun registry)"},
              {"start_time", now},
              {"tags",
               {Tag("driftrun.run_id", v.run_id), Tag("driftrun.version", std::to_string(v.version))}}}));
  const std::string id = run["run"]["info"].value("run_id", "");
  *artifact_uri = run["run"]["info"].value("artifact_uri", "");
  DRIFTRUN_RETURN_IF_ERROR(
      c.Post("runs/update", {{"run_id", id}, {"status", "FINISHED"}, {"end_time", now}}).status());
  return id;
}

// Where a version's ONNX goes in its run: one folder per version, since one
// run folder may be registered more than once (resumed and trained further).
std::string ArtifactDir(const VersionRecord& v) {
  return "model-v" + std::to_string(v.version);
}

// The registry's reason for the version's newest alias move to it.
std::string Verdict(const nlohmann::json& history, int64_t version) {
  std::string why;
  for (const auto& e : history)
    if (e.value("event", "") == "alias" && e.value("to", int64_t{0}) == version) why = e.value("why", "");
  return why;
}

Status Upload(MlflowClient& c, const std::string& artifact_uri, const VersionRecord& v) {
  const Artifact* onnx = v.Find("onnx");
  std::string root;
  if (!onnx || !ArtifactPath(artifact_uri, &root)) return Status::Ok();  // nothing to upload, or nowhere
  return c.PutArtifact(root + "/" + ArtifactDir(v) + "/model.onnx", onnx->path);
}

Result<std::string> CreateVersion(MlflowClient& c, const std::string& exp_id, const VersionRecord& v,
                                  const nlohmann::json& history) {
  std::string artifact_uri;
  DRIFTRUN_ASSIGN_OR_RETURN(std::string run, RunFor(c, exp_id, v, &artifact_uri));
  DRIFTRUN_RETURN_IF_ERROR(Upload(c, artifact_uri, v));
  const Artifact* onnx = v.Find("onnx");
  nlohmann::json tags = nlohmann::json::array(
      {Tag("driftrun.version", std::to_string(v.version)), Tag("driftrun.run_id", v.run_id),
       Tag("driftrun.trigger", v.record.value("trigger", "")),
       Tag("driftrun.verdict", Verdict(history, v.version)), Tag("driftrun.sha256", onnx ? onnx->sha256 : ""),
       Tag("driftrun.created", v.created)});
  DRIFTRUN_ASSIGN_OR_RETURN(
      nlohmann::json made, c.Post("model-versions/create",
                                  {{"name", v.name},
                                   {"source", "runs:/" + run + "/" + ArtifactDir(v)},
                                   {"run_id", run},
                                   {"tags", tags},
                                   {"description", "driftrun " + v.name + ":" + std::to_string(v.version)}}));
  return made["model_version"].value("version", "");
}

}  // namespace

Result<nlohmann::json> ExportToMlflow(Registry& reg, const std::string& model, MlflowClient& c) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<VersionRecord> versions, reg.List(model));
  DRIFTRUN_ASSIGN_OR_RETURN(nlohmann::json history, reg.History(model));
  auto made = c.Post("registered-models/create",
                     {{"name", model}, {"description", "mirrored from a driftrun registry"}});
  if (!made.ok() && !IsMlflowError(made.status(), "RESOURCE_ALREADY_EXISTS")) return made.status();
  DRIFTRUN_ASSIGN_OR_RETURN(std::string exp_id, c.ExperimentId(model));
  DRIFTRUN_ASSIGN_OR_RETURN(auto mirrored, Mirrored(c, model));
  nlohmann::json out = {{"model", model},
                        {"created", nlohmann::json::array()},
                        {"existing", 0},
                        {"aliases", nlohmann::json::object()}};
  std::map<std::string, std::string> aliases;  // alias -> MLflow version
  for (const VersionRecord& v : versions) {
    auto it = mirrored.find(v.version);
    if (it == mirrored.end()) {
      DRIFTRUN_ASSIGN_OR_RETURN(std::string mv, CreateVersion(c, exp_id, v, history));
      it = mirrored.emplace(v.version, mv).first;
      out["created"].push_back({v.version, mv});
    } else {
      out["existing"] = out["existing"].get<int64_t>() + 1;
    }
    for (const auto& a : v.aliases) aliases[a] = it->second;
  }
  for (const std::string a : {"production", "candidate"}) {
    if (aliases.count(a)) {
      DRIFTRUN_RETURN_IF_ERROR(
          c.Post("registered-models/alias", {{"name", model}, {"alias", a}, {"version", aliases[a]}})
              .status());
      out["aliases"][a] = aliases[a];
    }
  }
  return out;
}

}  // namespace driftrun
