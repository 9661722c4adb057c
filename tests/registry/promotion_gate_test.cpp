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
  c.candidate_loss = cand;
  c.holder_loss = holder;
  return c;
}

TEST(PromotionGate, WithinToleranceIsAllowedAndNoted) {
  std::string note;
  PromotionCase c = Production(1.04, 1.0);
  ASSERT_TRUE(c.ComparesLosses());
  Status st = DecidePromotion(c, &note);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_NE(note.find("holdout loss 1.04 vs 2's 1"), std::string::npos) << note;
  EXPECT_NE(note.find("as recorded"), std::string::npos) << note;
}

TEST(PromotionGate, RecordedLossesReadBackExactly) {
  std::string note;
  const double cand = 0.1 + 0.2, holder = 0.30000001234567;  // 0.30000000000000004: 17 digits
  ASSERT_TRUE(DecidePromotion(Production(cand, holder), &note).ok());
  const size_t at = note.find("holdout loss ");
  ASSERT_NE(at, std::string::npos) << note;
  const char* p = note.c_str() + at + 13;
  char* end = nullptr;
  EXPECT_EQ(std::strtod(p, &end), cand) << note;
  const size_t other = note.find("'s ", end - note.c_str());
  ASSERT_NE(other, std::string::npos) << note;
  EXPECT_EQ(std::strtod(note.c_str() + other + 3, nullptr), holder) << note;
  EXPECT_NE(note.find("2's 0.30000001234567,"), std::string::npos) << "shortest form: " << note;
}

TEST(PromotionGate, WorseThanToleranceIsRefused) {
  std::string note;
  PromotionCase c = Production(1.06, 1.0);
  c.fresh_losses = true;
  Status st = DecidePromotion(c, &note);
  EXPECT_EQ(st.code(), Code::kTraining);
  EXPECT_NE(st.message().find("promotion refused: m:3"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("by more than 5%"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("both on the candidate's holdout"), std::string::npos) << st.message();
  c.tolerance = 0.1;
  EXPECT_TRUE(DecidePromotion(c, &note).ok());
}

TEST(PromotionGate, MissingCandidateLossIsRefusedOnlyAgainstAKnownOne) {
  std::string note;
  EXPECT_EQ(DecidePromotion(Production(NAN, 1.0), &note).code(), Code::kTraining);
  EXPECT_TRUE(DecidePromotion(Production(NAN, NAN), &note).ok());
  EXPECT_TRUE(DecidePromotion(Production(5.0, NAN), &note).ok());
}

TEST(PromotionGate, ApprovalComesFirstEvenForANoOpMove) {
  std::string note;
  PromotionCase c = Production(0.5, 1.0);
  c.require_approval = true;
  Status st = DecidePromotion(c, &note);
  EXPECT_EQ(st.code(), Code::kTraining);
  EXPECT_NE(st.message().find("registry approve m:3"), std::string::npos) << st.message();
  c.holder = c.version;  // already there: still needs the approval
  EXPECT_EQ(DecidePromotion(c, &note).code(), Code::kTraining);
  c.approved = true;
  EXPECT_TRUE(DecidePromotion(c, &note).ok());
  EXPECT_EQ(note, "");
}

TEST(PromotionGate, OnlyProductionWithAHolderComparesLosses) {
  std::string note;
  PromotionCase c = Production(9.0, 1.0);
  c.alias = "staging";
  EXPECT_FALSE(c.ComparesLosses());
  EXPECT_TRUE(DecidePromotion(c, &note).ok());
  c.alias = "production";
  c.holder = 0;  // first production holder
  EXPECT_FALSE(c.ComparesLosses());
  EXPECT_TRUE(DecidePromotion(c, &note).ok());
  c.holder = 2;
  EXPECT_EQ(DecidePromotion(c, &note).code(), Code::kTraining);
}

}  // namespace
}  // namespace driftrun
