// Aliases and per-model policies in registry.db: the SQL behind alias moves,
// their history and rollback, and the stored promotion policy. Internal to
// registry/ (SqliteRegistry uses it inside its transactions).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "registry/promotion_gate.h"

namespace driftrun {

// The version `alias` points at, or 0. Every read here returns Status::Infra
// when the database fails (busy, I/O): a failure is never "no rows".
Result<int64_t> AliasVersion(sqlite3* db, const std::string& name, const std::string& alias);

// Points `alias` at `to` and records the move: kind "promote", "rollback",
// "register" or "noop" (the alias already held `to`: recorded, nothing moves);
// `details` holds the gate's facts as fields.
Status MoveAlias(sqlite3* db, const std::string& name, const std::string& alias, int64_t from, int64_t to,
                 const std::string& who, const std::string& why, const std::string& kind,
                 const nlohmann::json& details = nlohmann::json::object());

// Where rolling `alias` back leads: its moves form a stack (a promotion pushes
// the new holder, a rollback pops), so successive rollbacks walk back through
// the history instead of alternating. 0: nothing to roll back to.
Result<int64_t> RollbackTarget(sqlite3* db, const std::string& name, const std::string& alias);

// The spelling `name` already uses for `alias` (same CanonicalAlias), else
// `alias` itself: lookups and rollbacks match aliases ignoring case and
// punctuation.
Result<std::string> ResolveAlias(sqlite3* db, const std::string& name, const std::string& alias);

// Status::Usage when `alias` differs from an alias `name` already uses only by
// case or punctuation ("Production" beside "production").
Status CheckAliasSpelling(sqlite3* db, const std::string& name, const std::string& alias);

// The model's audit trail, oldest first (Registry::History).
Result<nlohmann::json> ReadHistory(sqlite3* db, const std::string& name);

// The model's stored policy; a model without one (none registered yet) has the
// default Policy.
Result<Policy> ReadPolicy(sqlite3* db, const std::string& name);
// Stores `p` and records the change (who, when, why).
Status WritePolicy(sqlite3* db, const std::string& name, const Policy& p, const std::string& who,
                   const std::string& why);
// Stores `p` only when `name` has no policy yet (first registration).
Status InitPolicy(sqlite3* db, const std::string& name, const Policy& p, const std::string& why);

}  // namespace driftrun
