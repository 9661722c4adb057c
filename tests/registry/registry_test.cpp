#include "registry/registry.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "common/file_util.h"
#include "registry/artifact_store.h"
#include "registry/sqlite_db.h"

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
  EXPECT_EQ(reg->Promote("m", 2, "production", o).status().code(), Code::kTraining);
  EXPECT_EQ(calls, 1);
  o.compare = [](const VersionRecord&, const VersionRecord&) -> Result<std::pair<double, double>> {
    return Status::Data("holdout file gone");
  };
  EXPECT_EQ(reg->Promote("m", 2, "production", o).status().code(), Code::kData);
  o.compare = [](const VersionRecord&, const VersionRecord&) -> Result<std::pair<double, double>> {
    return std::make_pair(1.02, 1.0);
  };
  auto r = reg->Promote("m", 2, "production", o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().gate["candidate_loss"], 1.02);
  auto h = reg->History("m").take();
  EXPECT_EQ(h.back()["details"]["candidate_loss"], 1.02) << h.back().dump();
  EXPECT_EQ(h.back()["details"]["holder_loss"], 1.0) << h.back().dump();
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

TEST(Registry, AMistypedModelOrAliasSaysWhatWasMeant) {
  const std::string dir = FreshDir("near");
  auto reg = Registry::Create(dir + "/reg").take();
  ASSERT_TRUE(reg->Register(Req(dir, "r1", 1.0)).ok());  // model "m"
  RegisterRequest churn = Req(dir, "r2", 1.0);
  churn.name = "churn";
  ASSERT_TRUE(reg->Register(churn).ok());
  PromoteOptions o;
  o.who = "t";
  ASSERT_TRUE(reg->Promote("churn", 1, "production", o).ok());
  const auto message = [&](const ModelRef& r) { return reg->Get(r).status().message(); };
  EXPECT_NE(message({"chrun", 1, ""}).find("did you mean 'churn'?"), std::string::npos)
      << message({"chrun", 1, ""});
  EXPECT_NE(message({"chur", 0, ""}).find("did you mean 'churn'?"), std::string::npos);
  EXPECT_NE(message({"churn", 0, "prod"}).find("did you mean 'production'?"), std::string::npos);
  EXPECT_EQ(message({"churn", 7, ""}).find("did you mean"), std::string::npos) << "the model exists";
  EXPECT_EQ(message({"zzzzzz", 1, ""}).find("did you mean"), std::string::npos) << "nothing near";
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
  Status worse = reg->Promote("m", 2, "production", o).status();
  EXPECT_EQ(worse.code(), Code::kTraining) << "20% worse, tolerance 5%";
  EXPECT_NE(worse.message().find("tolerance"), std::string::npos);
  Policy p = reg->GetPolicy("m").take();
  p.require_approval = true;
  ASSERT_TRUE(reg->SetPolicy("m", p, "boss", "four eyes").ok());
  EXPECT_EQ(reg->Promote("m", 3, "production", o).status().code(), Code::kTraining);
  ASSERT_TRUE(reg->Approve("m", 3, "ann", "ok").take());
  EXPECT_FALSE(reg->Approve("m", 3, "ann", "again").take()) << "one approval per person";
  EXPECT_EQ(reg->Get({"m", 3, ""}).take().approvals.size(), 1u);
  ASSERT_TRUE(reg->Promote("m", 3, "production", o).ok()) << "4% worse is within 5%";
  EXPECT_EQ(reg->Rollback("m", "production", "t", "bad latency").take(), 1);
  EXPECT_EQ(reg->Get({"m", 0, "production"}).take().version, 1);
  EXPECT_EQ(reg->Rollback("m", "production", "t", "").status().code(), Code::kUsage)
      << "1 had no holder before";
  EXPECT_EQ(reg->Promote("m", 9, "production", o).status().code(), Code::kUsage);
  EXPECT_EQ(reg->Rollback("m", "production", "", "").status().code(), Code::kUsage) << "who is required";
  nlohmann::json h = reg->History("m").take();
  int moves = 0, approvals = 0, policies = 0;
  for (const auto& e : h) {
    moves += e["event"] == "alias";
    approvals += e["event"] == "approval";
    policies += e["event"] == "policy";
  }
  EXPECT_EQ(moves, 3 + 3);  // 3 candidate moves, promote, promote, rollback
  EXPECT_EQ(approvals, 1);
  EXPECT_EQ(policies, 2);  // first registration, then boss's change
  EXPECT_EQ(h.back()["why"], "bad latency");
}

TEST(Registry, PolicyIsStoredAtFirstRegistrationAndOnlyItApplies) {
  const std::string dir = FreshDir("policy");
  auto reg = Registry::Create(dir + "/reg").take();
  RegisterRequest first = Req(dir, "r1", 1.0);
  first.policy.require_approval = true;
  ASSERT_TRUE(reg->Register(first).ok());
  RegisterRequest second = Req(dir, "r2", 0.5);  // a later config without the policy
  ASSERT_TRUE(reg->Register(second).ok());
  EXPECT_TRUE(reg->GetPolicy("m").take().require_approval);
  PromoteOptions o;
  o.who = "mallory";
  auto r = reg->Promote("m", 2, "production", o);
  EXPECT_EQ(r.status().code(), Code::kTraining) << "the stored policy applies";
  EXPECT_EQ(reg->Promote("m", 2, "Production", o).status().code(), Code::kTraining) << "spelled otherwise";
  // Approvals by the same person however spelled are one; separate_approver sees through spellings.
  Policy four = reg->GetPolicy("m").take();
  four.separate_approver = true;
  ASSERT_TRUE(reg->SetPolicy("m", four, "boss", "").ok());
  ASSERT_TRUE(reg->Approve("m", 2, "carol", "ok").take());
  EXPECT_FALSE(reg->Approve("m", 2, " Carol", "again").take());
  o.who = "CAROL";
  EXPECT_EQ(reg->Promote("m", 2, "production", o).status().code(), Code::kTraining) << "her own approval";
  o.who = "mallory";
  auto spelled = reg->Promote("m", 2, "PRODUCTION", o);  // carol approved, mallory promotes
  ASSERT_TRUE(spelled.ok()) << spelled.status().message();
  EXPECT_EQ(spelled.value().alias, "production") << "stored as the policy spells it";
  EXPECT_EQ(reg->Get({"m", 0, "Pro-duction"}).take().version, 2) << "looked up ignoring case and punctuation";
  ASSERT_TRUE(reg->Promote("m", 2, "staging", o).ok()) << "not gated";
  EXPECT_EQ(reg->Promote("m", 1, "Staging", o).status().code(), Code::kUsage) << "staging exists";
  EXPECT_EQ(reg->GetPolicy("nosuch").status().code(), Code::kUsage);
  Policy bad;
  bad.tolerance = -0.5;
  EXPECT_EQ(reg->SetPolicy("m", bad, "boss", "").code(), Code::kUsage);
}

TEST(Registry, NoOpAndDamagedTargetsAndRollbackWalksBack) {
  const std::string dir = FreshDir("walk");
  auto reg = Registry::Create(dir + "/reg").take();
  for (const char* run : {"r1", "r2", "r3"}) ASSERT_TRUE(reg->Register(Req(dir, run, 1.0)).ok());
  PromoteOptions o;
  o.who = "t";
  for (int v : {1, 2, 1, 2}) ASSERT_TRUE(reg->Promote("m", v, "production", o).ok()) << v;
  auto same = reg->Promote("m", 2, "production", o);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same.value().noop);
  EXPECT_EQ(reg->History("m").take().back()["kind"], "noop");
  std::vector<int64_t> walked;
  for (int i = 0; i < 3; ++i) walked.push_back(reg->Rollback("m", "production", "t", "").take());
  EXPECT_EQ(walked, (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(reg->Rollback("m", "production", "t", "").status().code(), Code::kUsage) << "history exhausted";
  // Version 3's checkpoint is deleted: no alias may move onto it.
  std::remove(reg->Get({"m", 3, ""}).take().Find("checkpoint")->path.c_str());
  EXPECT_EQ(reg->Promote("m", 3, "production", o).status().code(), Code::kData);
  // Version 1 (production now) is damaged: it cannot be evaluated, so the gate
  // compares the losses recorded at registration; damage is no way around it.
  ASSERT_TRUE(reg->Promote("m", 2, "staging", o).ok());
  std::ofstream(reg->Get({"m", 1, ""}).take().Find("checkpoint")->path) << "bit rot";
  ASSERT_TRUE(reg->Register(Req(dir, "r4", 2.0)).ok());  // version 4, twice the loss
  int evaluated = 0;
  o.compare = [&](const VersionRecord&, const VersionRecord&) -> Result<std::pair<double, double>> {
    ++evaluated;
    return std::make_pair(0.0, 9.0);
  };
  EXPECT_EQ(reg->Promote("m", 4, "production", o).status().code(), Code::kTraining) << "refused as recorded";
  auto r = reg->Promote("m", 2, "production", o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r.value().holder_artifacts_damaged);
  EXPECT_EQ(r.value().gate["losses_from"], "recorded at registration");
  EXPECT_EQ(evaluated, 0) << "a damaged holder is not evaluated";
  // ... and rolling back onto the damaged version is refused.
  EXPECT_EQ(reg->Rollback("m", "production", "t", "").status().code(), Code::kData);
  EXPECT_EQ(reg->Get({"m", 0, "production"}).take().version, 2);
}

}  // namespace
}  // namespace driftrun

TEST(Registry, AuditStampsStrictlyIncreaseWithinAProcess) {
  // History merges alias moves, approvals and policy changes by this stamp; a
  // burst of events inside one millisecond must still come back in order.
  std::string last = driftrun::UtcNow();
  for (int i = 0; i < 50; ++i) {
    const std::string now = driftrun::UtcNow();
    ASSERT_LT(last, now) << "call " << i;
    ASSERT_EQ(now.size(), std::string("2026-11-27T08:34:44.120Z").size()) << now;
    last = now;
  }
}
