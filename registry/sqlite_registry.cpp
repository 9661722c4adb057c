// The embedded Registry: SQLite metadata (registry.db) beside a
// LocalArtifactStore (artifacts/). See registry.h for the contract.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "common/config.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/text.h"
#include "registry/alias_store.h"
#include "registry/artifact_store.h"
#include "registry/promotion_gate.h"
#include "registry/registry.h"
#include "registry/sqlite_db.h"
#include "registry/sqlite_schema.h"

namespace driftrun {

namespace {

class SqliteRegistry : public Registry {
 public:
  SqliteRegistry(std::string root, sqlite3* db)
      : root_(std::move(root)), db_(db), store_(LocalArtifactStore(root_)) {}
  ~SqliteRegistry() override { sqlite3_close(db_); }
  Status Exec(const std::string& sql);

  using Registry::List;
  using Registry::Register;
  Result<VersionRecord> Register(const RegisterRequest& req, bool* existed) override;
  Result<VersionRecord> Get(const ModelRef& ref) override;
  Result<std::vector<VersionRecord>> List(const std::string& name,
                                          std::vector<std::string>* unreadable) override;
  Result<PromoteResult> Promote(const std::string& name, int64_t version, const std::string& alias,
                                const PromoteOptions& o) override;
  Result<bool> Approve(const std::string& name, int64_t version, const std::string& by,
                       const std::string& note) override;
  Result<int64_t> Rollback(const std::string& name, const std::string& alias, const std::string& who,
                           const std::string& why) override;
  Result<nlohmann::json> History(const std::string& name) override;
  Result<Policy> GetPolicy(const std::string& name) override;
  Status SetPolicy(const std::string& name, const Policy& p, const std::string& who,
                   const std::string& why) override;
  Result<std::vector<std::string>> Verify() override;
  Status CheckIntegrity() override { return QuickCheck(db_, root_ + "/registry.db"); }

 private:
  Result<VersionRecord> Load(const std::string& name, int64_t version);
  // One line per artifact of `v` that is missing or does not match its sha256.
  std::vector<std::string> Damaged(const VersionRecord& v) const;
  Status CheckModel(const std::string& name);
  std::string root_;
  sqlite3* db_;
  std::unique_ptr<ArtifactStore> store_;
};

}  // namespace

namespace {

Result<std::unique_ptr<Registry>> OpenDb(const std::string& root, bool create) {
  sqlite3* db = nullptr;
  const std::string path = root + "/registry.db";
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status st = Status::Infra("cannot open the registry database '" + path +
                              "': " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return st;
  }
  auto r = std::make_unique<SqliteRegistry>(root, db);
  // A writer waits this long for another's lock, then fails (exit 5 naming the
  // lock). DRIFTRUN_REGISTRY_BUSY_MS shortens it (tests: a locked database).
  const char* busy = std::getenv("DRIFTRUN_REGISTRY_BUSY_MS");
  sqlite3_busy_timeout(db, busy && *busy ? std::max(1, std::atoi(busy)) : 60000);
  if (!create && !IsRegistryDb(db)) {  // before anything writes to it
    if (const int rc = sqlite3_errcode(db); rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
      if (FileHead(path, 16) == std::string("SQLite format 3\0", 16))
        return DamagedDb(path, std::string("reading its tables: ") + sqlite3_errmsg(db));
    }
    // An empty or foreign registry.db beside a store of models was a registry.
    if (!ListDir(root + "/artifacts").empty())
      return DamagedDb(path, "it is empty or not a registry database, but artifacts/ beside it holds models");
    return Status::Usage("registry not found: " + root + " (its registry.db is empty or not a driftrun " +
                         "registry); check --registry, or restore registry.db from a backup");
  }
  DRIFTRUN_RETURN_IF_ERROR(r->Exec("PRAGMA journal_mode=WAL"));
  DRIFTRUN_RETURN_IF_ERROR(r->Exec("PRAGMA synchronous=FULL"));
  DRIFTRUN_RETURN_IF_ERROR(r->Exec("PRAGMA foreign_keys=ON"));
  DRIFTRUN_RETURN_IF_ERROR(EnsureSchema(db, path));
  return std::unique_ptr<Registry>(std::move(r));
}

}  // namespace

Result<std::unique_ptr<Registry>> Registry::Create(const std::string& root) {
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(root + "/artifacts"));
  return OpenDb(root, true);
}

Result<std::unique_ptr<Registry>> Registry::Open(const std::string& root) {
  if (const std::string db = root + "/registry.db"; !PathExists(db) || IsDir(db)) {
    return Status::Usage("registry not found: " + root + " (no registry.db there); check --registry or the " +
                         "config's [registry] path; a registry is created by `driftrun registry register " +
                         "--run RUN_DIR` or by training with [registry] register = true");
  }
  return OpenDb(root, false);
}

Status SqliteRegistry::Exec(const std::string& sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
      sqlite3_free(err);
      return DbError(db_, sql);
    }
    Status st = Status::Infra("registry database '" + root_ + "/registry.db': " + (err ? err : "error") +
                              "; if it is corrupt, restore it from a backup");
    sqlite3_free(err);
    return st;
  }
  return Status::Ok();
}

Result<VersionRecord> SqliteRegistry::Load(const std::string& name, int64_t version) {
  VersionRecord v;
  {
    Stmt s(db_, "SELECT run_id, created, record FROM versions WHERE name = ?1 AND version = ?2");
    s.Bind(1, name).Bind(2, version);
    if (s.Step() != SQLITE_ROW) {
      DRIFTRUN_RETURN_IF_ERROR(s.Check("reading " + name + ":" + std::to_string(version)));
      return Status::Usage("no version " + name + ":" + std::to_string(version) +
                           DidYouMean(db_, "SELECT DISTINCT name FROM versions", "", name) +
                           "; see `driftrun registry list`");
    }
    v.name = name;
    v.version = version;
    v.run_id = s.Text(0);
    v.created = s.Text(1);
    v.record = nlohmann::json::parse(s.Text(2), nullptr, false);
    if (v.record.is_discarded() || !v.record.is_object()) {
      return Status::Data("the record of " + name + ":" + std::to_string(version) + " in '" + root_ +
                          "/registry.db' is not valid JSON (the row was damaged); run " +
                          "`driftrun registry verify` and restore registry.db from a backup");
    }
  }
  Stmt a(db_,
         "SELECT kind, file, sha256, bytes FROM artifacts WHERE name = ?1 AND version = ?2 ORDER BY kind");
  a.Bind(1, name).Bind(2, version);
  while (a.Step() == SQLITE_ROW) {
    auto path = store_->Path(a.Text(1));
    if (!path.ok())
      return path.status().WithContext("registry record " + name + ":" + std::to_string(version));
    v.artifacts.push_back({a.Text(0), path.value(), a.Text(2), a.Int(3)});
  }
  DRIFTRUN_RETURN_IF_ERROR(a.Check("reading the artifacts of " + name));
  Stmt al(db_, "SELECT alias FROM aliases WHERE name = ?1 AND version = ?2 ORDER BY alias");
  al.Bind(1, name).Bind(2, version);
  while (al.Step() == SQLITE_ROW) v.aliases.push_back(al.Text(0));
  DRIFTRUN_RETURN_IF_ERROR(al.Check("reading the aliases of " + name));
  Stmt ap(db_, "SELECT by, note, at FROM approvals WHERE name = ?1 AND version = ?2 ORDER BY rowid");
  ap.Bind(1, name).Bind(2, version);
  while (ap.Step() == SQLITE_ROW)
    v.approvals.push_back({{"by", ap.Text(0)}, {"note", ap.Text(1)}, {"at", ap.Text(2)}});
  DRIFTRUN_RETURN_IF_ERROR(ap.Check("reading the approvals of " + name));
  return v;
}

Result<VersionRecord> SqliteRegistry::Register(const RegisterRequest& req, bool* existed) {
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("model name", req.name));
  if (existed) *existed = false;
  std::string digest;  // the checkpoint's: a run continued after a resume is a new version
  if (auto ck = req.files.find("checkpoint"); ck != req.files.end()) {
    auto sha = Sha256File(ck->second);
    if (!sha.ok()) return sha.status().WithContext("hashing the checkpoint to register");
    digest = sha.value();
  }
  Txn txn(db_);
  DRIFTRUN_RETURN_IF_ERROR(txn.Begin());
  {
    Stmt s(db_, "SELECT version FROM versions WHERE name = ?1 AND run_id = ?2 AND checkpoint_sha256 = ?3");
    s.Bind(1, req.name).Bind(2, req.run_id).Bind(3, digest);
    if (s.Step() == SQLITE_ROW) {
      const int64_t v = s.Int(0);
      if (existed) *existed = true;
      return Load(req.name, v);  // already registered: idempotent per (run, checkpoint)
    }
    DRIFTRUN_RETURN_IF_ERROR(s.Check("looking up run " + req.run_id));
  }
  int64_t version = 1, parent = 0;
  {
    Stmt s(db_, "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE name = ?1");
    s.Bind(1, req.name);
    if (s.Step() == SQLITE_ROW) version = s.Int(0);
    DRIFTRUN_RETURN_IF_ERROR(s.Check("numbering the version"));
    DRIFTRUN_ASSIGN_OR_RETURN(parent, AliasVersion(db_, req.name, "production"));
    if (parent == 0) parent = version - 1;
  }
  std::map<std::string, std::string> files = req.files;
  std::string onnx_tmp;
  if (req.make_onnx) {
    onnx_tmp = store_->Scratch("export-" + std::to_string(::getpid()) + ".onnx");
    Status st = req.make_onnx(version, parent, onnx_tmp);
    if (!st.ok()) {
      std::remove(onnx_tmp.c_str());
      return st;
    }
    files["onnx"] = onnx_tmp;
  }
  nlohmann::json record = req.record;
  record["parent_version"] = parent > 0 ? nlohmann::json(parent) : nlohmann::json();
  std::vector<std::pair<std::string, StoredFile>> stored;  // kind, file
  for (const auto& [kind, file] : files) {
    auto put = store_->Put(file);
    if (!put.ok()) {
      std::remove(onnx_tmp.c_str());
      return put.status().WithContext("storing the " + kind + " artifact");
    }
    stored.emplace_back(kind, put.value());
  }
  if (!onnx_tmp.empty()) std::remove(onnx_tmp.c_str());
  const std::string created = UtcNow();
  {
    Stmt s(db_,
           "INSERT INTO versions(name, version, run_id, created, record, checkpoint_sha256) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    s.Bind(1, req.name).Bind(2, version).Bind(3, req.run_id).Bind(4, created).Bind(5, record.dump());
    s.Bind(6, digest);
    if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot insert the version");
  }
  for (const auto& [kind, f] : stored) {
    Stmt s(db_,
           "INSERT INTO artifacts(name, version, kind, sha256, bytes, file) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    s.Bind(1, req.name).Bind(2, version).Bind(3, kind).Bind(4, f.sha256).Bind(5, f.bytes).Bind(6, f.key);
    if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot insert an artifact");
  }
  {
    DRIFTRUN_ASSIGN_OR_RETURN(const int64_t candidate, AliasVersion(db_, req.name, "candidate"));
    DRIFTRUN_RETURN_IF_ERROR(MoveAlias(db_, req.name, "candidate", candidate, version, "driftrun",
                                       "registered run " + req.run_id, "register"));
    DRIFTRUN_RETURN_IF_ERROR(
        InitPolicy(db_, req.name, req.policy, "first registration (run " + req.run_id + ")"));
  }
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  return Load(req.name, version);
}

Result<VersionRecord> SqliteRegistry::Get(const ModelRef& ref) {
  int64_t version = ref.version;
  if (!ref.alias.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(const std::string alias, ResolveAlias(db_, ref.name, ref.alias));
    DRIFTRUN_ASSIGN_OR_RETURN(version, AliasVersion(db_, ref.name, alias));
    if (version == 0) {
      return Status::Usage(
          "model '" + ref.name + "' has no alias '" + ref.alias + "'" +
          DidYouMean(db_, "SELECT DISTINCT alias FROM aliases WHERE name = ?1", ref.name, ref.alias) +
          "; see `driftrun registry list --model " + ref.name + "`");
    }
    auto v = Load(ref.name, version);
    if (!v.ok() && v.status().code() == Code::kUsage) {
      return Status::Data(ref.name + "@" + ref.alias + " points at version " + std::to_string(version) +
                          ", which does not exist: the registry is damaged; run `driftrun registry verify`");
    }
    return v;
  } else if (version == 0) {
    Stmt s(db_, "SELECT MAX(version) FROM versions WHERE name = ?1");
    s.Bind(1, ref.name);
    if (s.Step() != SQLITE_ROW || s.Null(0)) {
      DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the versions of " + ref.name));
      return Status::Usage("no model '" + ref.name + "' in the registry '" + root_ + "'" +
                           DidYouMean(db_, "SELECT DISTINCT name FROM versions", "", ref.name));
    }
    version = s.Int(0);
  }
  return Load(ref.name, version);
}

Result<std::vector<VersionRecord>> SqliteRegistry::List(const std::string& name,
                                                        std::vector<std::string>* unreadable) {
  std::vector<std::pair<std::string, int64_t>> keys;
  {
    Stmt s(db_, name.empty() ? "SELECT name, version FROM versions ORDER BY name, version"
                             : "SELECT name, version FROM versions WHERE name = ?1 ORDER BY version");
    if (!name.empty()) s.Bind(1, name);
    while (s.Step() == SQLITE_ROW) keys.emplace_back(s.Text(0), s.Int(1));
    DRIFTRUN_RETURN_IF_ERROR(s.Check("listing versions"));
  }
  std::vector<VersionRecord> out;
  for (const auto& [n, v] : keys) {
    auto r = Load(n, v);
    if (r.ok()) {
      out.push_back(r.take());
    } else if (unreadable) {
      unreadable->push_back(r.status().message());
    } else {
      return r.status();
    }
  }
  return out;
}

namespace {

double HoldoutLoss(const VersionRecord& v) {
  const auto& m = v.record.value("metrics", nlohmann::json::object());
  const auto& h = m.value("holdout", nlohmann::json::object());
  return h.contains("loss") && h["loss"].is_number() ? h["loss"].get<double>() : NAN;
}

}  // namespace

std::vector<std::string> SqliteRegistry::Damaged(const VersionRecord& v) const {
  std::vector<std::string> out;
  for (const auto& a : v.artifacts) {
    auto sha = Sha256File(a.path);
    if (!sha.ok()) {
      out.push_back(a.kind + " '" + a.path + "' is missing");
    } else if (sha.value() != a.sha256) {
      out.push_back(a.kind + " '" + a.path + "' does not match its sha256");
    }
  }
  return out;
}

Status SqliteRegistry::CheckModel(const std::string& name) {
  Stmt s(db_, "SELECT 1 FROM versions WHERE name = ?1 LIMIT 1");
  s.Bind(1, name);
  if (s.Step() == SQLITE_ROW) return Status::Ok();
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the versions of " + name));
  return Status::Usage("no model '" + name + "' in the registry '" + root_ + "'");
}

Result<PromoteResult> SqliteRegistry::Promote(const std::string& name, int64_t version,
                                              const std::string& alias_in, const PromoteOptions& o) {
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("alias", alias_in));
  if (o.who.empty()) return Status::Usage("promote needs --by WHO: every alias move records who made it");
  Txn txn(db_);
  DRIFTRUN_RETURN_IF_ERROR(txn.Begin());
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord cand, Load(name, version));
  PromoteResult r;
  PromotionCase pc;
  DRIFTRUN_ASSIGN_OR_RETURN(pc.policy, ReadPolicy(db_, name));
  pc.name = name;
  pc.version = version;
  // A gated alias in any spelling is the policy's ("Production" is the gated
  // "production"); another alias spelled like an existing one is refused.
  pc.alias = GatedSpelling(pc.policy, alias_in);
  DRIFTRUN_RETURN_IF_ERROR(CheckAliasSpelling(db_, name, pc.alias));
  pc.who = o.who;
  DRIFTRUN_ASSIGN_OR_RETURN(pc.holder, AliasVersion(db_, name, pc.alias));
  r.holder = pc.holder;
  const std::vector<std::string> bad = Damaged(cand);
  if (pc.holder == version) {  // nothing to move, nothing to gate: recorded
    r.noop = true;
    r.gate = {{"damaged", bad}};
    DRIFTRUN_RETURN_IF_ERROR(MoveAlias(db_, name, pc.alias, version, version, o.who, o.why, "noop", r.gate));
    DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
    return r;
  }
  const std::string label = name + ":" + std::to_string(version);
  if (!bad.empty()) {
    return Status::Data("cannot move @" + pc.alias + " to " + label + ": its artifacts are damaged (" +
                        Join(bad, "; ") +
                        "); choose another version (`driftrun registry verify` lists the damage)");
  }
  for (const auto& a : cand.approvals) pc.approvers.push_back(a.value("by", ""));
  std::unique_ptr<VersionRecord> prod;
  if (pc.holder > 0 && pc.Gated()) {
    auto h = Load(name, pc.holder);
    if (h.ok()) prod = std::make_unique<VersionRecord>(h.take());
    // Only a holder that cannot be compared at all (no record) is replaced
    // unchecked; a damaged one is compared on the losses recorded at registration.
    pc.holder_damaged = !prod;
  }
  if (pc.ComparesLosses()) {
    pc.same_training_data = SameHoldout(cand.record, prod->record);
    pc.candidate_loss = HoldoutLoss(cand);
    pc.holder_loss = HoldoutLoss(*prod);
    const bool holder_ok = Damaged(*prod).empty();
    if (o.compare && holder_ok) {
      DRIFTRUN_ASSIGN_OR_RETURN(auto losses, o.compare(cand, *prod));
      std::tie(pc.candidate_loss, pc.holder_loss) = losses;
      pc.fresh_losses = true;
    }
    if (!holder_ok) r.holder_artifacts_damaged = true;
  }
  DRIFTRUN_RETURN_IF_ERROR(DecidePromotion(pc, &r.gate));
  if (r.holder_artifacts_damaged) r.gate["holder_artifacts_damaged"] = true;
  DRIFTRUN_RETURN_IF_ERROR(
      MoveAlias(db_, name, pc.alias, pc.holder, version, o.who, o.why, "promote", r.gate));
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  r.alias = pc.alias;
  return r;
}

Result<bool> SqliteRegistry::Approve(const std::string& name, int64_t version, const std::string& by,
                                     const std::string& note) {
  if (by.empty()) return Status::Usage("approve needs --by WHO");
  Txn txn(db_);
  DRIFTRUN_RETURN_IF_ERROR(txn.Begin());
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, Load(name, version));
  for (const auto& a : v.approvals) {
    if (SamePerson(a.value("by", ""), by)) return false;  // one approval per person, however spelled
  }
  Stmt s(db_, "INSERT OR IGNORE INTO approvals(name, version, by, note, at) VALUES (?1, ?2, ?3, ?4, ?5)");
  s.Bind(1, name).Bind(2, version).Bind(3, by).Bind(4, note).Bind(5, UtcNow());
  if (s.Step() != SQLITE_DONE) return DbError(db_, "cannot record the approval");
  const bool added = sqlite3_changes(db_) > 0;
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  return added;
}

Result<int64_t> SqliteRegistry::Rollback(const std::string& name, const std::string& alias_in,
                                         const std::string& who, const std::string& why) {
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("alias", alias_in));
  if (who.empty()) return Status::Usage("rollback needs --by WHO: every alias move records who made it");
  Txn txn(db_);
  DRIFTRUN_RETURN_IF_ERROR(txn.Begin());
  DRIFTRUN_ASSIGN_OR_RETURN(const std::string alias, ResolveAlias(db_, name, alias_in));
  DRIFTRUN_ASSIGN_OR_RETURN(const int64_t cur, AliasVersion(db_, name, alias));
  if (cur == 0) return Status::Usage("model '" + name + "' has no alias '" + alias + "'");
  DRIFTRUN_ASSIGN_OR_RETURN(const int64_t prev, RollbackTarget(db_, name, alias));
  if (prev == 0) {
    return Status::Usage("cannot roll back " + name + "@" + alias +
                         ": its history has no holder before version " + std::to_string(cur) +
                         " (`driftrun registry history " + name + "`)");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord target, Load(name, prev));
  if (auto bad = Damaged(target); !bad.empty()) {
    return Status::Data("cannot roll " + name + "@" + alias + " back to version " + std::to_string(prev) +
                        ": its artifacts are damaged (" + Join(bad, "; ") +
                        "); promote a healthy version instead");
  }
  auto holder = Load(name, cur);
  // A rollback returns to a holder the alias had: no approval or loss gate
  // (recorded as such), only the artifact check above.
  const nlohmann::json details = {{"holder_damaged", !holder.ok() || !Damaged(holder.value()).empty()},
                                  {"gate", "not applied: a rollback returns to an earlier holder"}};
  DRIFTRUN_RETURN_IF_ERROR(MoveAlias(db_, name, alias, cur, prev, who,
                                     why.empty() ? "rollback from version " + std::to_string(cur) : why,
                                     "rollback", details));
  DRIFTRUN_RETURN_IF_ERROR(txn.Commit());
  return prev;
}

Result<nlohmann::json> SqliteRegistry::History(const std::string& name) {
  DRIFTRUN_RETURN_IF_ERROR(CheckModel(name));
  return ReadHistory(db_, name);
}

Result<Policy> SqliteRegistry::GetPolicy(const std::string& name) {
  DRIFTRUN_RETURN_IF_ERROR(CheckModel(name));
  return ReadPolicy(db_, name);
}

Status SqliteRegistry::SetPolicy(const std::string& name, const Policy& p, const std::string& who,
                                 const std::string& why) {
  if (who.empty()) return Status::Usage("policy changes need --by WHO (recorded with the change)");
  DRIFTRUN_RETURN_IF_ERROR(p.Check());
  Txn txn(db_);
  DRIFTRUN_RETURN_IF_ERROR(txn.Begin());
  DRIFTRUN_RETURN_IF_ERROR(CheckModel(name));
  DRIFTRUN_ASSIGN_OR_RETURN(Policy before, ReadPolicy(db_, name));
  if (before.ToJson() == p.ToJson()) return Status::Ok();  // nothing changes: nothing to record
  DRIFTRUN_RETURN_IF_ERROR(WritePolicy(db_, name, p, who, why));
  return txn.Commit();
}

Result<std::vector<std::string>> SqliteRegistry::Verify() {
  std::vector<std::string> problems;
  {
    Stmt s(db_, "PRAGMA integrity_check");
    if (s.Step() == SQLITE_ROW && s.Text(0) != "ok") problems.push_back("database: " + s.Text(0));
    DRIFTRUN_RETURN_IF_ERROR(s.Check("checking the database's integrity"));
  }
  for (auto& p : CheckDatabase(db_)) problems.push_back(std::move(p));
  Stmt s(db_, "SELECT name, version, kind, sha256, file FROM artifacts ORDER BY name, version, kind");
  while (s.Step() == SQLITE_ROW) {
    const std::string label = s.Text(0) + ":" + std::to_string(s.Int(1)) + " " + s.Text(2);
    auto where = store_->Path(s.Text(4));
    if (!where.ok()) {
      problems.push_back(label + ": " + where.status().message());
      continue;
    }
    const std::string& path = where.value();
    auto sha = Sha256File(path);
    if (!sha.ok()) {
      problems.push_back(label + ": '" + path + "' is missing");
    } else if (sha.value() != s.Text(3)) {
      problems.push_back(label + ": '" + path + "' does not match its sha256 (altered or truncated)");
    }
  }
  DRIFTRUN_RETURN_IF_ERROR(s.Check("reading the artifact rows"));
  return problems;
}

}  // namespace driftrun
