#include "registry/registry.h"

namespace driftrun {

const Artifact* VersionRecord::Find(const std::string& kind) const {
  for (const auto& a : artifacts)
    if (a.kind == kind) return &a;
  return nullptr;
}

nlohmann::json VersionRecord::ToJson() const {
  nlohmann::json j = record;
  j["name"] = name;
  j["version"] = version;
  j["run_id"] = run_id;
  j["created"] = created;
  nlohmann::json arts = nlohmann::json::object();
  for (const auto& a : artifacts) arts[a.kind] = {{"path", a.path}, {"sha256", a.sha256}, {"bytes", a.bytes}};
  j["artifacts"] = arts;
  j["aliases"] = aliases;
  j["approvals"] = approvals;
  return j;
}

}  // namespace driftrun
