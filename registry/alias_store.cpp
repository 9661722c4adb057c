#include "registry/alias_store.h"

#include <algorithm>
#include <vector>

#include "registry/sqlite_db.h"

namespace driftrun {

Result<int64_t> AliasVersion(sqlite3* db, const std::string& name, const std::string& alias) {
  Stmt s(db, "SELECT version FROM aliases WHERE name = ?1 AND alias = ?2");
  s.Bind(1, name).Bind(2, alias);
  if (s.Step() == SQLITE_ROW) return s.Int(0);
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading alias @" + alias + " of " + name));
  return int64_t{0};
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

Result<int64_t> RollbackTarget(sqlite3* db, const std::string& name, const std::string& alias) {
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
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the history of @" + alias));
  return stack.size() >= 2 ? stack[stack.size() - 2] : int64_t{0};
}

Result<std::string> ResolveAlias(sqlite3* db, const std::string& name, const std::string& alias) {
  Stmt s(db,
         "SELECT DISTINCT alias FROM alias_events WHERE name = ?1 UNION SELECT alias FROM aliases WHERE name "
         "= ?1");
  s.Bind(1, name);
  const std::string want = CanonicalAlias(alias);
  while (s.Step() == SQLITE_ROW) {
    if (s.Text(0) == alias) return alias;
    if (CanonicalAlias(s.Text(0)) == want) return s.Text(0);
  }
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the aliases of " + name));
  return alias;
}

Status CheckAliasSpelling(sqlite3* db, const std::string& name, const std::string& alias) {
  DRIFTRUN_ASSIGN_OR_RETURN(const std::string have, ResolveAlias(db, name, alias));
  if (have == alias) return Status::Ok();
  return Status::Usage("alias '" + alias + "' differs from " + name + "'s existing alias '" + have +
                       "' only by case or punctuation; use '" + have + "'");
}

Result<Policy> ReadPolicy(sqlite3* db, const std::string& name) {
  Stmt s(db, "SELECT policy FROM policies WHERE name = ?1");
  s.Bind(1, name);
  if (s.Step() != SQLITE_ROW) {
    DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the policy of " + name));
    return Policy();
  }
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
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the policy of " + name));
  return WritePolicy(db, name, p, "driftrun", why);
}

Result<nlohmann::json> ReadHistory(sqlite3* db, const std::string& name) {
  std::vector<std::pair<std::string, nlohmann::json>> rows;  // (at, event): merged by time
  Stmt s(db,
         "SELECT alias, from_version, to_version, who, at, why, kind, details FROM alias_events "
         "WHERE name = ?1 ORDER BY id");
  s.Bind(1, name);
  while (s.Step() == SQLITE_ROW) {
    auto details = nlohmann::json::parse(s.Text(7), nullptr, false);
    rows.emplace_back(s.Text(4),
                      nlohmann::json{{"event", "alias"},
                                     {"alias", s.Text(0)},
                                     {"from", s.Null(1) ? nlohmann::json() : nlohmann::json(s.Int(1))},
                                     {"to", s.Int(2)},
                                     {"who", s.Text(3)},
                                     {"at", s.Text(4)},
                                     {"why", s.Text(5)},
                                     {"kind", s.Text(6)},
                                     {"rollback", s.Text(6) == "rollback"},
                                     {"details", details.is_discarded() ? nlohmann::json() : details}});
  }
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the alias history of " + name));
  Stmt ap(db, "SELECT version, by, note, at FROM approvals WHERE name = ?1 ORDER BY rowid");
  ap.Bind(1, name);
  while (ap.Step() == SQLITE_ROW) {
    rows.emplace_back(ap.Text(3), nlohmann::json{{"event", "approval"},
                                                 {"version", ap.Int(0)},
                                                 {"who", ap.Text(1)},
                                                 {"why", ap.Text(2)},
                                                 {"at", ap.Text(3)}});
  }
  DRIFTRUN_RETURN_IF_ERROR(ap.Check("reading the approvals of " + name));
  Stmt po(db, "SELECT policy, who, at, why FROM policy_events WHERE name = ?1 ORDER BY id");
  po.Bind(1, name);
  while (po.Step() == SQLITE_ROW) {
    rows.emplace_back(po.Text(2),
                      nlohmann::json{{"event", "policy"},
                                     {"policy", nlohmann::json::parse(po.Text(0), nullptr, false)},
                                     {"who", po.Text(1)},
                                     {"at", po.Text(2)},
                                     {"why", po.Text(3)}});
  }
  DRIFTRUN_RETURN_IF_ERROR(po.Check("reading the policy history of " + name));
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json out = nlohmann::json::array();
  for (auto& r : rows) out.push_back(std::move(r.second));
  return out;
}

}  // namespace driftrun
