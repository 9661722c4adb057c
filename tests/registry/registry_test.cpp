#include "registry/registry.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/file_util.h"
#include "registry/artifact_store.h"

namespace driftrun {
namespace {

std::string FreshDir(const std::string& name) {
  const char* base = std::getenv("DRIFTRUN_TEST_TMP");
  std::string d = std::string(base ? base : "/tmp") + "/registry-" + name;
  RemoveTree(d);
  (void)MakeDirs(d);
  return d;
}

RegisterRequest Req(const std::string& dir, const std::string& run, double loss) {
  RegisterRequest r;
  r.name = "m";
  r.run_id = run;
  r.record = {{"metrics", {{"holdout", {{"loss", loss}}}}}};
  const std::string f = dir + "/" + run + ".h5";
  std::ofstream(f) << "weights of " << run;
  r.files["checkpoint"] = f;
  return r;
}

TEST(ArtifactStore, StoresContentOnceUnderItsDigest) {
  const std::string dir = FreshDir("store");
  auto store = LocalArtifactStore(dir + "/reg");
  std::ofstream(dir + "/a.onnx") << "same bytes";
  std::ofstream(dir + "/b.onnx") << "same bytes";
  std::ofstream(dir + "/c.weird-ext!") << "other";
  auto a = store->Put(dir + "/a.onnx").take();
  auto b = store->Put(dir + "/b.onnx").take();
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.key, "artifacts/" + a.sha256.substr(0, 2) + "/" + a.sha256 + ".onnx");
  EXPECT_EQ(a.bytes, 10);
  EXPECT_EQ(store->Put(dir + "/c.weird-ext!").take().key.find('!'), std::string::npos)
      << "odd extensions dropped";
  EXPECT_EQ(ReadFile(store->Path(a.key).take()).take(), "same bytes");
  for (const char* bad : {"artifacts/../../x", "/etc/passwd", "other/ab/cd", "artifacts/a b"}) {
    EXPECT_EQ(store->Path(bad).status().code(), Code::kData) << bad;
  }
  EXPECT_FALSE(store->Put(dir + "/missing.h5").ok());
}

TEST(Registry, NamesAndReferences) {
  EXPECT_TRUE(ValidateName("model name", "churn-v2.1_x").ok());
  for (const char* bad : {"", "../x", "a/b", "..", ".hidden", "a..b", "x y"}) {
    EXPECT_EQ(ValidateName("model name", bad).code(), Code::kUsage) << bad;
  }
  auto r = ParseModelRef("churn@production").take();
  EXPECT_EQ(r.name, "churn");
  EXPECT_EQ(r.alias, "production");
  EXPECT_EQ(ParseModelRef("churn:12").take().version, 12);
  EXPECT_FALSE(ParseModelRef("churn:0").ok());
  EXPECT_FALSE(ParseModelRef("churn:x").ok());
  EXPECT_FALSE(ParseModelRef("../churn@production").ok());
}

TEST(Registry, RegisterIsIdempotentAndStoresByContent) {
  const std::string dir = FreshDir("idem");
  auto reg = Registry::Create(dir + "/reg").take();
  auto v1 = reg->Register(Req(dir, "run-a", 1.0)).take();
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(reg->Register(Req(dir, "run-a", 1.0)).take().version, 1);
  auto v2 = reg->Register(Req(dir, "run-b", 1.0)).take();
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(v2.record["parent_version"], 1);
  const Artifact* a = v1.Find("checkpoint");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->path, dir + "/reg/artifacts/" + a->sha256.substr(0, 2) + "/" + a->sha256 + ".h5");
  EXPECT_EQ(reg->Get({"m", 0, "candidate"}).take().version, 2);
  EXPECT_TRUE(reg->Verify().take().empty());
  std::ofstream(a->path) << "tampered";
  EXPECT_EQ(reg->Verify().take().size(), 1u);
}

TEST(Registry, GateUsesTheComparisonWhenGivenAndRecordsIt) {
  const std::string dir = FreshDir("compare");
  auto reg = Registry::Create(dir + "/reg").take();
  ASSERT_TRUE(reg->Register(Req(dir, "r1", 1.0)).ok());
  ASSERT_TRUE(reg->Register(Req(dir, "r2", 0.5)).ok());  // better as recorded
  PromoteOptions o;
  o.who = "t";
  ASSERT_TRUE(reg->Promote("m", 1, "production", o).ok());
  int calls = 0;
  o.compare = [&](const VersionRecord& c, const VersionRecord& p) -> Result<std::pair<double, double>> {
    ++calls;
    EXPECT_EQ(c.version, 2);
    EXPECT_EQ(p.version, 1);
    return std::make_pair(2.0, 1.0);  // but worse on the shared holdout
  };
  EXPECT_EQ(reg->Promote("m", 2, "production", o).code(), Code::kTraining);
  EXPECT_EQ(calls, 1);
  o.compare = [](const VersionRecord&, const VersionRecord&) -> Result<std::pair<double, double>> {
    return Status::Data("holdout file gone");
  };
  EXPECT_EQ(reg->Promote("m", 2, "production", o).code(), Code::kData);
  o.compare = [](const VersionRecord&, const VersionRecord&) -> Result<std::pair<double, double>> {
    return std::make_pair(1.02, 1.0);
  };
  ASSERT_TRUE(reg->Promote("m", 2, "production", o).ok());
  auto h = reg->History("m").take();
  EXPECT_NE(h.back()["why"].get<std::string>().find("1.02 vs 1's 1"), std::string::npos) << h.back().dump();
}

TEST(Registry, RefusesArtifactPathsOutsideTheStore) {
  const std::string dir = FreshDir("escape");
  auto reg = Registry::Create(dir + "/reg").take();
  ASSERT_TRUE(reg->Register(Req(dir, "run-a", 1.0)).ok());
  reg.reset();
  // Someone edits the database by hand (triggers only guard UPDATE, so insert a new row).
  const std::string sql = "sqlite3 '" + dir +
                          "/reg/registry.db' \"INSERT INTO artifacts VALUES('m', 1, 'onnx', " +
                          "'x', 1, 'artifacts/../../etc/passwd')\"";
  if (std::system(sql.c_str()) != 0) GTEST_SKIP() << "no sqlite3 command-line tool";
  reg = Registry::Open(dir + "/reg").take();
  auto v = reg->Get({"m", 1, ""});
  EXPECT_EQ(v.status().code(), Code::kData);
  EXPECT_NE(v.status().message().find("outside"), std::string::npos);
}

TEST(Registry, PromotionGateApprovalAndRollback) {
  const std::string dir = FreshDir("gate");
  auto reg = Registry::Create(dir + "/reg").take();
  ASSERT_TRUE(reg->Register(Req(dir, "r1", 1.0)).ok());
  ASSERT_TRUE(reg->Register(Req(dir, "r2", 1.2)).ok());
  ASSERT_TRUE(reg->Register(Req(dir, "r3", 1.04)).ok());
  PromoteOptions o;
  o.who = "t";
  ASSERT_TRUE(reg->Promote("m", 1, "production", o).ok());
  Status worse = reg->Promote("m", 2, "production", o);
  EXPECT_EQ(worse.code(), Code::kTraining) << "20% worse, tolerance 5%";
  EXPECT_NE(worse.message().find("tolerance"), std::string::npos);
  o.require_approval = true;
  EXPECT_EQ(reg->Promote("m", 3, "production", o).code(), Code::kTraining);
  ASSERT_TRUE(reg->Approve("m", 3, "ann", "ok").ok());
  ASSERT_TRUE(reg->Promote("m", 3, "production", o).ok()) << "4% worse is within 5%";
  EXPECT_EQ(reg->Rollback("m", "production", "t").take(), 1);
  EXPECT_EQ(reg->Get({"m", 0, "production"}).take().version, 1);
  EXPECT_EQ(reg->Rollback("m", "production", "t").status().code(), Code::kUsage) << "1 had no holder before";
  EXPECT_EQ(reg->Promote("m", 9, "production", o).code(), Code::kUsage);
  EXPECT_EQ(reg->History("m").take().size(), 3u + 3u);  // 3 candidate moves, promote, promote, rollback
}

}  // namespace
}  // namespace driftrun
