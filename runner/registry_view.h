// How `driftrun registry list` and `show` print versions for people (their
// --json output is VersionRecord::ToJson, the contract for scripts). Every
// string from the registry goes through EscapeForConsole.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "registry/registry.h"

namespace driftrun {

// A header row naming the columns, then one row per version: name, version,
// created, kind, holdout loss, aliases, approved, trigger.
std::string VersionTable(const std::vector<VersionRecord>& versions);

// `key: value` lines: the version, its metrics, lineage, artifacts, aliases and
// approvals, then the model's alias history (`history`: Registry::History).
std::string VersionDetails(const VersionRecord& v, const nlohmann::json& history);

// The audit trail (Registry::History), one line per event: alias moves with
// their kind and gate numbers, approvals, policy changes.
std::string HistoryText(const nlohmann::json& history);

}  // namespace driftrun
