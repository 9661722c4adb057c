// The promotion gate's rules, one by one, without a database.
#include "registry/promotion_gate.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace driftrun {
namespace {

PromotionCase Production(double cand, double holder) {
  PromotionCase c;
  c.name = "m";
  c.version = 3;
  c.alias = "production";
  c.holder = 2;
  c.who = "ann";
  c.candidate_loss = cand;
  c.holder_loss = holder;
  return c;
}

TEST(PromotionGate, WithinToleranceIsAllowedAndItsNumbersAreFields) {
  nlohmann::json gate;
  PromotionCase c = Production(1.04, 1.0);
  ASSERT_TRUE(c.ComparesLosses());
  Status st = DecidePromotion(c, &gate);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(gate["candidate_loss"], 1.04);
  EXPECT_EQ(gate["holder_loss"], 1.0);
  EXPECT_EQ(gate["holder"], 2);
  EXPECT_EQ(gate["policy"]["tolerance"], 0.05);
  EXPECT_EQ(gate["losses_from"], "recorded at registration");
}

TEST(PromotionGate, RecordedLossesReadBackExactly) {
  nlohmann::json gate;
  const double cand = 0.1 + 0.2, holder = 0.30000001234567;
  ASSERT_TRUE(DecidePromotion(Production(cand, holder), &gate).ok());
  const nlohmann::json back = nlohmann::json::parse(gate.dump());
  EXPECT_EQ(back["candidate_loss"].get<double>(), cand);
  EXPECT_EQ(back["holder_loss"].get<double>(), holder);
}

TEST(PromotionGate, WorseThanToleranceIsRefused) {
  nlohmann::json gate;
  PromotionCase c = Production(1.06, 1.0);
  c.fresh_losses = true;
  Status st = DecidePromotion(c, &gate);
  EXPECT_EQ(st.code(), Code::kTraining);
  EXPECT_EQ(st.message().rfind("promotion refused: m:3", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("by more than 5%"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("both on the candidate's holdout"), std::string::npos) << st.message();
  c.policy.tolerance = 0.1;
  EXPECT_TRUE(DecidePromotion(c, &gate).ok());
}

TEST(PromotionGate, MissingCandidateLossIsRefusedOnlyAgainstAKnownOne) {
  nlohmann::json gate;
  EXPECT_EQ(DecidePromotion(Production(NAN, 1.0), &gate).code(), Code::kTraining);
  EXPECT_TRUE(DecidePromotion(Production(NAN, NAN), &gate).ok());
  EXPECT_TRUE(DecidePromotion(Production(5.0, NAN), &gate).ok());
}

TEST(PromotionGate, ApprovalIsRequiredByPolicyAndSeparateApproverExcludesThePromoter) {
  nlohmann::json gate;
  PromotionCase c = Production(0.5, 1.0);
  c.policy.require_approval = true;
  Status st = DecidePromotion(c, &gate);
  EXPECT_EQ(st.code(), Code::kTraining);
  EXPECT_NE(st.message().find("registry approve m:3"), std::string::npos) << st.message();
  c.approvers = {"ann"};
  EXPECT_TRUE(DecidePromotion(c, &gate).ok());
  c.policy.separate_approver = true;  // ann promotes her own approval
  st = DecidePromotion(c, &gate);
  EXPECT_EQ(st.code(), Code::kTraining);
  EXPECT_NE(st.message().find("anyone but ann"), std::string::npos) << st.message();
  c.approvers.push_back("bob");
  EXPECT_TRUE(DecidePromotion(c, &gate).ok());
}

TEST(PromotionGate, GatedAliasesMatchIgnoringCaseAndPunctuation) {
  nlohmann::json gate;
  PromotionCase c = Production(9.0, 1.0);
  for (const char* spelled : {"Production", "PRODUCTION", "pro-duction", "production."}) {
    c.alias = spelled;
    EXPECT_TRUE(c.Gated()) << spelled;
    EXPECT_EQ(DecidePromotion(c, &gate).code(), Code::kTraining) << spelled;
  }
  c.alias = "staging";
  EXPECT_FALSE(c.ComparesLosses());
  EXPECT_TRUE(DecidePromotion(c, &gate).ok());
  EXPECT_EQ(gate["gated"], false);
  c.policy.gated = {"production", "Staging"};
  EXPECT_EQ(DecidePromotion(c, &gate).code(), Code::kTraining) << "staging is gated now";
  c.holder = 0;  // first holder: nothing to compare with
  EXPECT_FALSE(c.ComparesLosses());
  EXPECT_TRUE(DecidePromotion(c, &gate).ok());
}

TEST(PromotionGate, ADamagedHolderIsReplacedWithoutALossComparison) {
  nlohmann::json gate;
  PromotionCase c = Production(9.0, 1.0);
  c.holder_damaged = true;
  EXPECT_FALSE(c.ComparesLosses());
  ASSERT_TRUE(DecidePromotion(c, &gate).ok());
  EXPECT_EQ(gate["holder_damaged"], true);
  c.policy.require_approval = true;  // approval still applies
  EXPECT_EQ(DecidePromotion(c, &gate).code(), Code::kTraining);
}

TEST(PromotionGate, PolicyRoundTripsAndChecks) {
  Policy p;
  p.require_approval = true;
  p.tolerance = 0.1;
  p.gated = {"production", "staging"};
  p.separate_approver = true;
  Policy q = Policy::FromJson(nlohmann::json::parse(p.ToJson().dump())).take();
  EXPECT_EQ(q.ToJson(), p.ToJson());
  EXPECT_EQ(Policy::FromJson({{"tolerance", "x"}}).status().code(), Code::kData);
  p.tolerance = -1;
  EXPECT_EQ(p.Check().code(), Code::kUsage);
  p.tolerance = 0.1;
  p.gated = {"../x"};
  EXPECT_EQ(p.Check().code(), Code::kUsage);
  EXPECT_EQ(CanonicalAlias("Pro-Duction_1"), "production1");
}

TEST(PromotionGate, SameHoldoutNeedsTheSameDataAndTheSameSplit) {
  const nlohmann::json a = {{"data_fingerprint", "sha256:x"}, {"config", "[data]\nval_fraction = 0.05\n"}};
  nlohmann::json b = a;
  EXPECT_EQ(SameHoldout(a, b), 1);
  b["config"] = "[data]\nval_fraction = 0.3\n";
  EXPECT_EQ(SameHoldout(a, b), 0) << "the holder trained on most of the candidate's holdout";
  b = a;
  b["data_fingerprint"] = "sha256:y";
  EXPECT_EQ(SameHoldout(a, b), 0);
  EXPECT_EQ(SameHoldout(a, nlohmann::json::object()), -1);
}

TEST(PromotionGate, PeopleAreComparedIgnoringCaseAndSpaces) {
  EXPECT_TRUE(SamePerson("carol", " Carol "));
  EXPECT_FALSE(SamePerson("carol", "carl"));
  EXPECT_EQ(GatedSpelling(Policy(), "PRO-DUCTION"), "production");
  EXPECT_EQ(GatedSpelling(Policy(), "staging"), "staging");
}

}  // namespace
}  // namespace driftrun
