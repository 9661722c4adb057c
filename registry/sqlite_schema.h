// The registry database's schema, its migrations and its consistency checks.
// Internal to registry/.
//
// Schema versions (PRAGMA user_version):
//   0/1  versions unique per (name, run_id)
//   2    versions carry the checkpoint's sha256 and are unique per
//        (name, run_id, checkpoint_sha256): a resumed and continued run is a new
//        version. A version-1 database is migrated in place, in one write
//        transaction, the first time a newer driftrun opens it.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

inline constexpr int kRegistrySchemaVersion = 3;

// Creates the tables when missing and migrates an older schema. `path` names
// the database in messages.
// Whether `db` holds a registry (its versions table); an empty file does not.
bool IsRegistryDb(sqlite3* db);

Status EnsureSchema(sqlite3* db, const std::string& path);

// Problems of the metadata itself, one line each: records that are not JSON
// objects, aliases, artifact rows and approvals of versions that do not exist.
std::vector<std::string> CheckDatabase(sqlite3* db);

}  // namespace driftrun
