#include "scheduler/service_setup.h"

#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/text.h"
#include "trainers/train_options.h"

namespace driftrun {
namespace {

Result<ModelEntry> LoadModel(const std::string& path, const std::vector<std::string>& sets) {
  ModelEntry m;
  m.config_path = AbsolutePath(path);
  DRIFTRUN_ASSIGN_OR_RETURN(m.cfg, Config::Load(m.config_path, sets));
  const Config& c = m.cfg;
  m.name = c.Str("name");
  const std::string where = "model config '" + m.config_path + "'";
  if (m.name.empty())
    return Status::Usage(where + " has no `name`; the service keeps a registry model by name");
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("name", m.name).WithContext(where));
  if (c.StrList("data.train").empty()) return Status::Usage(where + ": data.train is empty");
  // The checks `train` (and `driftrun config`) make before any work: a job
  // must not fail later on what the config already says.
  DRIFTRUN_RETURN_IF_ERROR(TrainOptions::FromConfig(c, 1).status().WithContext(where));
  for (const std::string& f : c.StrList("data.train")) {
    if (!PathExists(f)) return Status::Usage(where + ": data.train file '" + f + "' does not exist");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(m.trigger, TriggerOptions::FromConfig(c));
  m.incoming = c.Str("monitor.incoming");
  m.registry = c.Str("registry.path");
  m.ranks = c.Int("retrain.ranks");
  m.window = c.Int("retrain.window");
  m.priority = c.Int("retrain.priority");
  m.warm_start = c.Bool("retrain.warm_start");
  m.approval = c.Str("retrain.promote") == "approval";
  m.reference = c.Str("retrain.reference");
  m.min_rows = c.Int("monitor.min_rows");
  m.batch_size = c.Int("train.batch_size");
  DRIFTRUN_RETURN_IF_ERROR(CheckServiceKeys(c, true).WithContext(where));
  if (!m.incoming.empty() && PathExists(m.incoming) && !IsDir(m.incoming)) {
    return Status::Usage(where + ": monitor.incoming '" + m.incoming +
                         "' is a file; it must be the folder the service watches for new *.h5 batches");
  }
  return m;
}

}  // namespace

Status CheckServiceKeys(const Config& c, bool serving) {
  if (serving && c.Origin("registry.path") == "default") {
    return Status::Usage(
        "has no [registry] path: set it (relative to the config file), so that the service, status and "
        "replay find the same registry from any folder");
  }
  DRIFTRUN_RETURN_IF_ERROR(TriggerOptions::FromConfig(c).status());
  const int64_t ranks = c.Int("retrain.ranks"), batch = c.Int("train.batch_size");
  const auto bad = [&c](const std::string& key, const std::string& what) {
    return Status::Usage(c.Origin(key) + ": key '" + key + "' " + what);
  };
  if (ranks < 1 || ranks > 1024) return bad("retrain.ranks", "must be in [1, 1024]");
  if (c.Int("retrain.window") < 0) return bad("retrain.window", "must be >= 0 (0: every labelled batch)");
  // A config never served may keep the default ranks with any batch size.
  if ((serving || c.Origin("retrain.ranks") != "default") && batch % ranks != 0) {
    const std::string origin = c.Origin("retrain.ranks");
    return Status::Usage((origin == "default" ? "" : origin + ": ") + "retrain.ranks = " +
                         std::to_string(ranks) + (origin == "default" ? " (the default)" : "") +
                         " does not divide train.batch_size = " + std::to_string(batch) +
                         " (each rank trains an equal share of every batch); choose retrain.ranks among the "
                         "divisors of the batch size, or another batch size");
  }
  return Status::Ok();
}

Status ServiceSetup::RecordServed() const {
  // Each value as resolved (a path made absolute from serve's folder, which
  // another command's may not be), as TOML text.
  const auto resolved = [&](const std::string& key) -> std::string {
    const Config& c = key.rfind("service.", 0) == 0 || models.empty() ? cfg : models.front().cfg;
    for (const auto& [k, v] : c.Flat()) {
      if (k == key) return v;
    }
    return "";
  };
  nlohmann::json served = nlohmann::json::array();
  for (const std::string& set : sets) {
    std::string key = set.substr(0, set.find('='));
    key.erase(key.find_last_not_of(" \t") + 1);
    key.erase(0, key.find_first_not_of(" \t"));
    if (key == "service.max_batches") continue;  // --max-batches: this run only
    const std::string value = resolved(key);
    served.push_back(value.empty() ? set : key + "=" + value);
  }
  return WriteFileAtomic(state + "/serve.json",
                         nlohmann::json{{"config", config_path}, {"sets", served}}.dump(2) + "\n");
}

Result<ServiceSetup> ServiceSetup::LoadAsServed(const std::string& path, const std::vector<std::string>& sets,
                                                std::string* note) {
  note->clear();
  DRIFTRUN_ASSIGN_OR_RETURN(ServiceSetup first, Load(path, sets));
  auto text = ReadFile(first.state + "/serve.json");
  if (!text.ok()) return first;
  const nlohmann::json j = nlohmann::json::parse(text.value(), nullptr, false);
  if (!j.is_object() || j.value("config", "") != first.config_path || !j.contains("sets") ||
      !j["sets"].is_array() || j["sets"].empty())
    return first;
  std::vector<std::string> merged;
  for (const auto& v : j["sets"]) {
    if (v.is_string()) merged.push_back(v.get<std::string>());
  }
  if (merged.empty()) return first;
  *note = "as the service runs it: with its --set " + Join(merged, " --set ") + " (" + first.state +
          "/serve.json), then this command's own";
  merged.insert(merged.end(), sets.begin(), sets.end());  // this command's own come last and win
  return Load(path, merged);
}

Result<ServiceSetup> ServiceSetup::Load(const std::string& path, const std::vector<std::string>& sets) {
  ServiceSetup s;
  if (path.empty())
    return Status::Usage("--config is required: the service config (see configs/service.toml)");
  s.config_path = AbsolutePath(path);
  s.sets = sets;
  DRIFTRUN_ASSIGN_OR_RETURN(s.cfg, Config::Load(s.config_path, sets));
  s.state = s.cfg.Str("service.state");
  const std::vector<std::string>& models = s.cfg.StrList("service.models");
  if (models.empty()) {
    // Found by a stranger: a model's own config given as the service's.
    for (const char* key : {"data.train", "model.kind", "model.task", "train.epochs"}) {
      if (s.cfg.Origin(key) == "default") continue;
      return Status::Usage("'" + s.config_path + "' is a model (experiment) config (it sets " + key +
                           "), not a service config: give --config the service config whose [service] "
                           "models lists it (see configs/service.toml)");
    }
    return Status::Usage(
        "service config '" + s.config_path +
        "' lists no models: set [service] models = [\"model.toml\", ...] (one experiment config "
        "per model)");
  }
  if (s.cfg.Float("service.poll_s") <= 0) return Status::Usage("service.poll_s must be > 0");
  if (s.cfg.Int("service.max_batches") < 0) return Status::Usage("service.max_batches must be >= 0");
  if (s.cfg.Int("service.max_jobs") < 1) return Status::Usage("service.max_jobs must be >= 1");
  if (!(s.cfg.Float("service.heartbeat_timeout_s") >= 1)) {
    return Status::Usage(
        "service.heartbeat_timeout_s must be >= 1 second (a job's leader sends a heartbeat between steps, "
        "every "
        "min(2 s, a quarter of the timeout); keep it above the longest step and data load: the default 60 is "
        "safe)");
  }
  for (const std::string& m : models) {
    if (SameFile(m, s.config_path)) {
      return Status::Usage("service.models names the service config itself ('" + m +
                           "'); list the experiment configs of the models");
    }
    if (!PathExists(m)) {
      return Status::Usage("service.models: model config '" + m +
                           "' does not exist (paths are relative to '" + s.config_path + "')");
    }
    auto entry = LoadModel(m, sets);
    if (!entry.ok()) return entry.status().WithContext("service.models");
    for (const ModelEntry& other : s.models) {
      if (SameFile(other.config_path, entry.value().config_path))
        return Status::Usage("service.models lists '" + m + "' twice");
      if (other.name == entry.value().name) {
        return Status::Usage("service.models: '" + other.config_path + "' and '" + entry.value().config_path +
                             "' both train model '" + other.name + "'; give each model its own name");
      }
    }
    s.models.push_back(entry.take());
  }
  return s;
}

const ModelEntry* ServiceSetup::Find(const std::string& name) const {
  for (const ModelEntry& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::vector<std::string> ServiceSetup::Names() const {
  std::vector<std::string> out;
  for (const ModelEntry& m : models) out.push_back(m.name);
  return out;
}

}  // namespace driftrun
