// The registry database itself, on real SQLite files: opening never creates a
// registry, registration is idempotent per (run, checkpoint sha256), a
// schema-1 database is migrated, and verify/list report damaged rows.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

#include "common/file_util.h"
#include "registry/artifact_store.h"
#include "registry/registry.h"

namespace driftrun {
namespace {

std::string FreshDir(const std::string& name) {
  const char* base = std::getenv("DRIFTRUN_TEST_TMP");
  std::string d = std::string(base ? base : "/tmp") + "/registry-db-" + name;
  RemoveTree(d);
  (void)MakeDirs(d);
  return d;
}

// A registration of run `run` whose checkpoint holds `weights`.
RegisterRequest Req(const std::string& dir, const std::string& run, const std::string& weights) {
  RegisterRequest r;
  r.name = "m";
  r.run_id = run;
  r.record = {{"metrics", {{"holdout", {{"loss", 1.0}}}}}};
  const std::string f = dir + "/" + run + "-ckpt.h5";
  std::ofstream(f) << weights;
  r.files["checkpoint"] = f;
  return r;
}

// Runs `sql` on the database file (outside the Registry, as a hand edit
// would); SQLite's result code.
int Sql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(db_path.c_str(), &db);
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return rc;
}

int64_t SqlInt(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(db_path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
  const int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

TEST(RegistryDb, OpenNeverCreatesARegistry) {
  const std::string dir = FreshDir("open");
  auto missing = Registry::Open(dir + "/nope");
  ASSERT_EQ(missing.status().code(), Code::kUsage);
  EXPECT_NE(missing.status().message().find("registry not found: " + dir + "/nope"), std::string::npos)
      << missing.status().message();
  EXPECT_FALSE(PathExists(dir + "/nope")) << "no folder created";
  ASSERT_TRUE(MakeDirs(dir + "/empty").ok());
  EXPECT_EQ(Registry::Open(dir + "/empty").status().code(), Code::kUsage);
  EXPECT_TRUE(ListDir(dir + "/empty").empty()) << "nothing created in an existing folder";
  ASSERT_TRUE(Registry::Create(dir + "/reg").ok());
  EXPECT_TRUE(Registry::Open(dir + "/reg").ok()) << "a created registry opens";
}

TEST(RegistryDb, IdempotentPerRunAndCheckpointDigest) {
  const std::string dir = FreshDir("digest");
  auto reg = Registry::Create(dir + "/reg").take();
  bool existed = true;
  auto v1 = reg->Register(Req(dir, "run-a", "weights after 100 steps"), &existed).take();
  EXPECT_EQ(v1.version, 1);
  EXPECT_FALSE(existed);
  auto again = reg->Register(Req(dir, "run-a", "weights after 100 steps"), &existed).take();
  EXPECT_EQ(again.version, 1);
  EXPECT_TRUE(existed) << "same run, same checkpoint: the existing version";
  auto resumed = reg->Register(Req(dir, "run-a", "weights after 200 steps"), &existed).take();
  EXPECT_EQ(resumed.version, 2) << "the run was resumed and continued: a new version";
  EXPECT_FALSE(existed);
  EXPECT_EQ(resumed.run_id, "run-a");
  EXPECT_NE(resumed.Find("checkpoint")->sha256, v1.Find("checkpoint")->sha256);
  EXPECT_EQ(reg->Get({"m", 0, "candidate"}).take().version, 2);
  EXPECT_EQ(reg->Register(Req(dir, "run-a", "weights after 100 steps"), &existed).take().version, 1);
  EXPECT_TRUE(existed);
}

// The DDL of registry.db before checkpoint digests (schema 1).
const char* kSchema1 = R"sql(
CREATE TABLE versions(
  name TEXT NOT NULL, version INTEGER NOT NULL, run_id TEXT NOT NULL, created TEXT NOT NULL,
  record TEXT NOT NULL, PRIMARY KEY(name, version), UNIQUE(name, run_id));
CREATE TABLE artifacts(
  name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL, file TEXT NOT NULL, PRIMARY KEY(name, version, kind));
CREATE TABLE aliases(
  name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY(name, alias));
CREATE TABLE alias_events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
  from_version INTEGER, to_version INTEGER NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL,
  why TEXT NOT NULL, rollback INTEGER NOT NULL DEFAULT 0);
CREATE TABLE approvals(
  name TEXT NOT NULL, version INTEGER NOT NULL, by TEXT NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL);
CREATE TRIGGER versions_immutable BEFORE UPDATE ON versions
  BEGIN SELECT RAISE(ABORT, 'registry versions are immutable'); END;
)sql";

TEST(RegistryDb, MigratesASchema1Database) {
  const std::string dir = FreshDir("migrate");
  const std::string root = dir + "/reg", db = root + "/registry.db";
  ASSERT_TRUE(MakeDirs(root + "/artifacts").ok());
  std::ofstream(dir + "/old.h5") << "weights of the old run";
  const StoredFile ck = LocalArtifactStore(root)->Put(dir + "/old.h5").take();
  ASSERT_EQ(Sql(db, kSchema1), SQLITE_OK);
  ASSERT_EQ(Sql(db,
                "INSERT INTO versions VALUES('m', 1, 'run-a', '2026-01-01T00:00:00Z', "
                "'{\"metrics\": {\"holdout\": {\"loss\": 0.5}}}');"
                "INSERT INTO artifacts VALUES('m', 1, 'checkpoint', '" +
                    ck.sha256 + "', " + std::to_string(ck.bytes) + ", '" + ck.key +
                    "');"
                    "INSERT INTO aliases VALUES('m', 'candidate', 1);"
                    "INSERT INTO alias_events(name, alias, from_version, to_version, who, at, why, rollback) "
                    "VALUES('m', 'production', NULL, 1, 'ann', '2026-01-01T00:00:01Z', 'promote', 0),"
                    "('m', 'production', 1, 1, 'ann', '2026-01-01T00:00:02Z', 'rollback', 1);"
                    "INSERT INTO approvals VALUES('m', 1, 'bob', 'ok', '2026-01-01T00:00:00Z'),"
                    "('m', 1, 'bob', 'ok again', '2026-01-01T00:00:03Z');"),
            SQLITE_OK);
  auto reg = Registry::Open(root).take();
  EXPECT_EQ(SqlInt(db, "PRAGMA user_version"), 3);
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM approvals"), 1) << "duplicate approvals are one";
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM alias_events WHERE kind = 'rollback'"), 1);
  EXPECT_EQ(reg->GetPolicy("m").take().ToJson(), Policy().ToJson())
      << "existing models get the default policy";
  auto all = reg->List("m").take();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].record["metrics"]["holdout"]["loss"], 0.5);
  EXPECT_TRUE(reg->Verify().take().empty());
  bool existed = false;
  auto same = reg->Register(Req(dir, "run-a", "weights of the old run"), &existed).take();
  EXPECT_TRUE(existed) << "the migrated row keeps its checkpoint digest";
  EXPECT_EQ(same.version, 1);
  EXPECT_EQ(reg->Register(Req(dir, "run-a", "trained further"), &existed).take().version, 2);
  EXPECT_FALSE(existed);
  reg.reset();
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'versions_immutable'"), 1);
  EXPECT_NE(Sql(db, "UPDATE versions SET run_id = 'x' WHERE version = 1"), SQLITE_OK) << "refused";
  EXPECT_EQ(SqlInt(db, "SELECT COUNT(*) FROM versions WHERE run_id = 'x'"), 0) << "still immutable";
}

TEST(RegistryDb, VerifyAndListReportDamagedRows) {
  const std::string dir = FreshDir("damaged");
  const std::string root = dir + "/reg", db = root + "/registry.db";
  auto reg = Registry::Create(root).take();
  ASSERT_TRUE(reg->Register(Req(dir, "r1", "one")).ok());
  ASSERT_TRUE(reg->Register(Req(dir, "r2", "two")).ok());
  EXPECT_TRUE(reg->Verify().take().empty());
  reg.reset();
  ASSERT_EQ(
      Sql(db,
          "DROP TRIGGER versions_immutable; UPDATE versions SET record = '{\"metrics\": ' WHERE version = 2;"
          "INSERT INTO aliases VALUES('m', 'production', 9);"),
      SQLITE_OK);
  reg = Registry::Open(root).take();
  auto problems = reg->Verify().take();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("m:2"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("JSON"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("'@production' points at version 9"), std::string::npos) << problems[1];
  EXPECT_EQ(reg->List("m").status().code(), Code::kData) << "without a list of unreadable ones: fails";
  std::vector<std::string> unreadable;
  auto listed = reg->List("m", &unreadable).take();
  ASSERT_EQ(listed.size(), 1u) << "the readable version is still listed";
  EXPECT_EQ(listed[0].version, 1);
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_NE(unreadable[0].find("m:2"), std::string::npos) << unreadable[0];
}

}  // namespace
}  // namespace driftrun
