// The registry subcommands that govern aliases: promote, approve, rollback,
// policy and history (runner/cmd_registry.cpp dispatches to them).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/config.h"
#include "registry/registry.h"
#include "runner/cli.h"

namespace driftrun {

// NAME[:VERSION|@ALIAS] from the second positional argument.
Result<ModelRef> VersionArg(const ParsedArgs& a, bool need_version);
// JSON for stdout: bytes that are not UTF-8 (a hand-edited database) replaced.
std::string JsonOut(const nlohmann::json& j);

Status DoPromote(Registry& reg, const ParsedArgs& a, const Config& cfg);
Status DoApprove(Registry& reg, const ParsedArgs& a);
Status DoRollback(Registry& reg, const ParsedArgs& a);
Status DoPolicy(Registry& reg, const ParsedArgs& a, const Config& cfg);
Status DoHistory(Registry& reg, const ParsedArgs& a);

}  // namespace driftrun
