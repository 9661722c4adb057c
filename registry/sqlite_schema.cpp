#include "registry/sqlite_schema.h"

#include <nlohmann/json.hpp>

#include "registry/sqlite_db.h"

namespace driftrun {
namespace {

const char* kVersionsTable = R"sql(
CREATE TABLE IF NOT EXISTS versions(
  name TEXT NOT NULL, version INTEGER NOT NULL, run_id TEXT NOT NULL, created TEXT NOT NULL,
  record TEXT NOT NULL, checkpoint_sha256 TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(name, version), UNIQUE(name, run_id, checkpoint_sha256));
)sql";

const char* kOtherTables = R"sql(
CREATE TABLE IF NOT EXISTS artifacts(
  name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL, file TEXT NOT NULL, PRIMARY KEY(name, version, kind));
CREATE TABLE IF NOT EXISTS aliases(
  name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY(name, alias));
CREATE TABLE IF NOT EXISTS alias_events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
  from_version INTEGER, to_version INTEGER NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL,
  why TEXT NOT NULL, rollback INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL DEFAULT 'promote',
  details TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS approvals(
  name TEXT NOT NULL, version INTEGER NOT NULL, by TEXT NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies(name TEXT PRIMARY KEY, policy TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, policy TEXT NOT NULL, who TEXT NOT NULL,
  at TEXT NOT NULL, why TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS versions_immutable BEFORE UPDATE ON versions
  BEGIN SELECT RAISE(ABORT, 'registry versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS artifacts_immutable BEFORE UPDATE ON artifacts
  BEGIN SELECT RAISE(ABORT, 'registry artifacts are immutable'); END;
)sql";

// Version 1 → 2: the versions table rebuilt with checkpoint_sha256 (taken from
// each version's checkpoint artifact) and the wider unique key.
const char* kMigrate1To2 = R"sql(
DROP TRIGGER IF EXISTS versions_immutable;
ALTER TABLE versions RENAME TO versions_v1;
CREATE TABLE versions(
  name TEXT NOT NULL, version INTEGER NOT NULL, run_id TEXT NOT NULL, created TEXT NOT NULL,
  record TEXT NOT NULL, checkpoint_sha256 TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(name, version), UNIQUE(name, run_id, checkpoint_sha256));
INSERT INTO versions(name, version, run_id, created, record, checkpoint_sha256)
  SELECT v.name, v.version, v.run_id, v.created, v.record,
         COALESCE((SELECT a.sha256 FROM artifacts a
                   WHERE a.name = v.name AND a.version = v.version AND a.kind = 'checkpoint'), '')
  FROM versions_v1 v;
DROP TABLE versions_v1;
)sql";

// Version 2 → 3: alias moves get a kind and the gate's facts as fields;
// duplicate approvals become one; every model gets the default policy (what
// promotions without a config applied before).
const char* kMigrate2To3 = R"sql(
UPDATE alias_events SET kind = CASE WHEN rollback = 1 THEN 'rollback'
                                    WHEN who = 'driftrun' AND alias = 'candidate' THEN 'register'
                                    ELSE 'promote' END;
DELETE FROM approvals WHERE rowid NOT IN (SELECT MIN(rowid) FROM approvals GROUP BY name, version, by);
INSERT OR IGNORE INTO policies(name, policy)
  SELECT DISTINCT name, '{"gated":["production"],"require_approval":false,"separate_approver":false,"tolerance":0.05}'
  FROM versions;
)sql";

const char* kIndexes = R"sql(
CREATE UNIQUE INDEX IF NOT EXISTS approvals_once ON approvals(name, version, by);
)sql";

int64_t UserVersion(sqlite3* db) {
  Stmt s(db, "PRAGMA user_version");
  return s.Step() == SQLITE_ROW ? s.Int(0) : -1;
}

bool HasTable(sqlite3* db, const char* table) {
  Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  s.Bind(1, std::string(table));
  return s.Step() == SQLITE_ROW;
}

bool HasColumn(sqlite3* db, const char* table, const std::string& column) {
  Stmt s(db, std::string("PRAGMA table_info(") + table + ")");
  while (s.Step() == SQLITE_ROW)
    if (s.Text(1) == column) return true;
  return false;
}

Status Exec(sqlite3* db, const char* sql, const std::string& what) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return DbError(db, what);
  return Status::Ok();
}

}  // namespace

bool IsRegistryDb(sqlite3* db) {
  return HasTable(db, "versions");
}

Status EnsureSchema(sqlite3* db, const std::string& path) {
  const int64_t have = UserVersion(db);
  if (have == kRegistrySchemaVersion) return Status::Ok();
  if (have > kRegistrySchemaVersion) {
    return Status::Infra("registry database '" + path + "' has schema version " + std::to_string(have) +
                         ", newer than this driftrun's " + std::to_string(kRegistrySchemaVersion) +
                         "; use the driftrun that wrote it, or a newer one");
  }
  Txn txn(db);
  DRIFTRUN_RETURN_IF_ERROR(txn.Begin());
  if (UserVersion(db) == kRegistrySchemaVersion) return Status::Ok();  // another process migrated it
  const bool existing = HasTable(db, "versions");
  if (existing && !HasColumn(db, "versions", "checkpoint_sha256")) {
    DRIFTRUN_RETURN_IF_ERROR(Exec(db, kOtherTables, "cannot migrate the registry database"));
    DRIFTRUN_RETURN_IF_ERROR(Exec(db, kMigrate1To2, "cannot migrate the registry database to schema 2"));
  }
  if (existing && HasTable(db, "alias_events") && !HasColumn(db, "alias_events", "kind")) {
    DRIFTRUN_RETURN_IF_ERROR(Exec(db,
                                  "ALTER TABLE alias_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'promote';"
                                  "ALTER TABLE alias_events ADD COLUMN details TEXT NOT NULL DEFAULT '{}';",
                                  "cannot migrate the registry database to schema 3"));
  }
  DRIFTRUN_RETURN_IF_ERROR(Exec(db, kVersionsTable, "cannot create the registry schema"));
  DRIFTRUN_RETURN_IF_ERROR(Exec(db, kOtherTables, "cannot create the registry schema"));
  if (existing && have < 3) {
    DRIFTRUN_RETURN_IF_ERROR(Exec(db, kMigrate2To3, "cannot migrate the registry database to schema 3"));
  }
  DRIFTRUN_RETURN_IF_ERROR(Exec(db, kIndexes, "cannot create the registry indexes"));
  const std::string set = "PRAGMA user_version = " + std::to_string(kRegistrySchemaVersion);
  DRIFTRUN_RETURN_IF_ERROR(Exec(db, set.c_str(), "cannot record the registry schema version"));
  return txn.Commit();
}

std::vector<std::string> CheckDatabase(sqlite3* db) {
  std::vector<std::string> problems;
  {
    Stmt s(db, "SELECT name, version, record FROM versions ORDER BY name, version");
    while (s.Step() == SQLITE_ROW) {
      const auto j = nlohmann::json::parse(s.Text(2), nullptr, false);
      const std::string label = s.Text(0) + ":" + std::to_string(s.Int(1));
      if (j.is_discarded() || !j.is_object()) {
        problems.push_back(label +
                           ": its record (versions.record) is not a JSON object; the row was damaged");
        continue;
      }
      // Fields registrations write, with their types: metrics always.
      for (const auto& [field, want] :
           {std::pair<const char*, nlohmann::json::value_t>{"metrics", nlohmann::json::value_t::object},
            {"kind", nlohmann::json::value_t::string},
            {"task", nlohmann::json::value_t::string},
            {"config", nlohmann::json::value_t::string}}) {
        const bool required = std::string(field) == "metrics";
        if ((required && !j.contains(field)) || (j.contains(field) && j[field].type() != want)) {
          problems.push_back(label + ": its record's field '" + field + "' is " +
                             (j.contains(field) ? "of the wrong type" : "missing") + "; the row was damaged");
        }
      }
    }
    if (Status st = s.Check("reading the version records"); !st.ok()) problems.push_back(st.message());
  }
  // Rows of other tables that name a version that does not exist.
  struct Orphans {
    const char* table;
    const char* version_column;
    const char* label_column;
    const char* what;  // "%s" is the label
  };
  const Orphans kOrphans[] = {
      {"aliases", "version", "alias", "alias '@%s' points at"},
      {"artifacts", "version", "kind", "the %s artifact row belongs to"},
      {"approvals", "version", "by", "the approval by '%s' belongs to"},
      {"alias_events", "to_version", "alias", "a recorded move of alias '@%s' went to"},
  };
  for (const auto& o : kOrphans) {
    const std::string col = o.version_column;
    Stmt s(db, "SELECT t.name, t." + col + ", t." + o.label_column + " FROM " + o.table +
                   " t WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.name = t.name AND v.version = t." +
                   col + ") ORDER BY 1, 2");
    while (s.Step() == SQLITE_ROW) {
      std::string what = o.what;
      what.replace(what.find("%s"), 2, s.Text(2));
      problems.push_back(s.Text(0) + ": " + what + " version " + std::to_string(s.Int(1)) +
                         ", which does not exist");
    }
    if (Status st = s.Check(std::string("reading table ") + o.table); !st.ok())
      problems.push_back(st.message());
  }
  return problems;
}

}  // namespace driftrun
