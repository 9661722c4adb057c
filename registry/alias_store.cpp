#include "registry/alias_store.h"

#include <vector>

#include "registry/sqlite_db.h"

namespace driftrun {

int64_t AliasVersion(sqlite3* db, const std::string& name, const std::string& alias) {
  Stmt s(db, "SELECT version FROM aliases WHERE name = ?1 AND alias = ?2");
  s.Bind(1, name).Bind(2, alias);
  return s.Step() == SQLITE_ROW ? s.Int(0) : 0;
}

Status MoveAlias(sqlite3* db, const std::string& name, const std::string& alias, int64_t from, int64_t to,
                 const std::string& who, const std::string& why, const std::string& kind,
                 const nlohmann::json& details) {
  if (kind != "noop") {
    Stmt up(db,
            "INSERT INTO aliases(name, alias, version) VALUES (?1, ?2, ?3) "
            "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version");
    up.Bind(1, name).Bind(2, alias).Bind(3, to);
    if (up.Step() != SQLITE_DONE) return DbError(db, "cannot move the alias");
  }
  Stmt ev(db,
          "INSERT INTO alias_events(name, alias, from_version, to_version, who, at, why, rollback, kind, "
          "details) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  ev.Bind(1, name).Bind(2, alias);
  if (from > 0) {
    ev.Bind(3, from);
  } else {
    ev.BindNull(3);
  }
  ev.Bind(4, to).Bind(5, who).Bind(6, UtcNow()).Bind(7, why).Bind(8, int64_t{kind == "rollback" ? 1 : 0});
  ev.Bind(9, kind).Bind(10, details.dump());
  if (ev.Step() != SQLITE_DONE) return DbError(db, "cannot record the alias move");
  return Status::Ok();
}

int64_t RollbackTarget(sqlite3* db, const std::string& name, const std::string& alias) {
  std::vector<int64_t> stack;
  Stmt s(db, "SELECT to_version, kind FROM alias_events WHERE name = ?1 AND alias = ?2 ORDER BY id");
  s.Bind(1, name).Bind(2, alias);
  while (s.Step() == SQLITE_ROW) {
    const std::string kind = s.Text(1);
    if (kind == "noop") continue;
    if (kind == "rollback") {
      if (!stack.empty()) stack.pop_back();
    } else {
      stack.push_back(s.Int(0));
    }
  }
  return stack.size() >= 2 ? stack[stack.size() - 2] : 0;
}

Status CheckAliasSpelling(sqlite3* db, const std::string& name, const std::string& alias) {
  Stmt s(db, "SELECT DISTINCT alias FROM alias_events WHERE name = ?1");
  s.Bind(1, name);
  const std::string want = CanonicalAlias(alias);
  while (s.Step() == SQLITE_ROW) {
    const std::string have = s.Text(0);
    if (have != alias && CanonicalAlias(have) == want) {
      return Status::Usage("alias '" + alias + "' differs from " + name + "'s existing alias '" + have +
                           "' only by case or punctuation; use '" + have + "'");
    }
  }
  return Status::Ok();
}

Result<Policy> ReadPolicy(sqlite3* db, const std::string& name) {
  Stmt s(db, "SELECT policy FROM policies WHERE name = ?1");
  s.Bind(1, name);
  if (s.Step() != SQLITE_ROW) return Policy();
  const auto j = nlohmann::json::parse(s.Text(0), nullptr, false);
  auto p = Policy::FromJson(j);
  if (!p.ok()) return p.status().WithContext("the policy of '" + name + "' in registry.db");
  return p;
}

Status WritePolicy(sqlite3* db, const std::string& name, const Policy& p, const std::string& who,
                   const std::string& why) {
  DRIFTRUN_RETURN_IF_ERROR(p.Check());
  const std::string text = p.ToJson().dump();
  Stmt up(db,
          "INSERT INTO policies(name, policy) VALUES (?1, ?2) "
          "ON CONFLICT(name) DO UPDATE SET policy = excluded.policy");
  up.Bind(1, name).Bind(2, text);
  if (up.Step() != SQLITE_DONE) return DbError(db, "cannot store the policy");
  Stmt ev(db, "INSERT INTO policy_events(name, policy, who, at, why) VALUES (?1, ?2, ?3, ?4, ?5)");
  ev.Bind(1, name).Bind(2, text).Bind(3, who).Bind(4, UtcNow()).Bind(5, why);
  if (ev.Step() != SQLITE_DONE) return DbError(db, "cannot record the policy change");
  return Status::Ok();
}

Status InitPolicy(sqlite3* db, const std::string& name, const Policy& p, const std::string& why) {
  Stmt s(db, "SELECT 1 FROM policies WHERE name = ?1");
  s.Bind(1, name);
  if (s.Step() == SQLITE_ROW) return Status::Ok();
  return WritePolicy(db, name, p, "driftrun", why);
}

}  // namespace driftrun
