#include "registry/registry.h"

#include <cstdlib>

#include "common/file_util.h"

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

std::string Registry::HoldingStore(const std::string& path) {
  // The folder as it really is (a symbolic link to a registry's artifacts/ is its store).
  std::string abs = AbsolutePath(path);
  if (char* real = ::realpath(DirName(abs).c_str(), nullptr)) {
    abs = std::string(real) + "/" + BaseName(abs);
    std::free(real);
  }
  std::string dir = DirName(abs);
  for (int up = 0; up < 4 && dir.size() > 1; ++up, dir = DirName(dir)) {
    if (!PathExists(dir + "/registry.db")) continue;
    const std::string rel = abs.substr(dir.size() + 1);
    if (rel.rfind("artifacts/", 0) == 0 || rel.rfind("registry.db", 0) == 0) return dir;
  }
  return "";
}

}  // namespace driftrun
