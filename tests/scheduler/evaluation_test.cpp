// The champion-vs-challenger rule (scheduler/evaluation.h) as a pure function.
#include "scheduler/evaluation.h"

#include <gtest/gtest.h>

namespace driftrun {
namespace {

// `halfwidth`: of the difference's interval.
Comparison Cmp(double champion, double challenger, double halfwidth = 0.1) {
  Comparison c;
  c.done = true;
  c.rows = 100;
  c.champion = champion;
  c.challenger = challenger;
  c.diff = challenger - champion;
  c.lo = c.diff - halfwidth;
  c.hi = c.diff + halfwidth;
  c.relative = c.diff / champion;
  return c;
}

Verdict With(Comparison holdout, Comparison window, double tolerance = 0.05) {
  Verdict v;
  v.champion = 1;
  v.tolerance = tolerance;
  v.holdout = holdout;
  v.window = window;
  Decide(&v);
  return v;
}

TEST(Verdict, FirstModelIsPromoted) {
  Verdict v;
  Decide(&v);
  EXPECT_TRUE(v.promote);
  EXPECT_NE(v.reason.find("first model"), std::string::npos);
}

TEST(Verdict, BetterOnTheWindowAndWithinToleranceOnTheHoldoutIsPromoted) {
  const Verdict v = With(Cmp(1.0, 1.04), Cmp(2.0, 1.5));
  EXPECT_TRUE(v.promote) << v.reason;
  EXPECT_EQ(v.reason.rfind("promoted", 0), 0u);
}

TEST(Verdict, WorseOnTheHoldoutBeyondToleranceIsNotPromoted) {
  const Verdict v = With(Cmp(1.0, 1.06), Cmp(2.0, 1.0));
  EXPECT_FALSE(v.promote);
  EXPECT_NE(v.reason.find("worse than production on the holdout"), std::string::npos) << v.reason;
  EXPECT_TRUE(With(Cmp(1.0, 1.06), Cmp(2.0, 1.0), 0.10).promote) << "the tolerance is the policy's";
}

TEST(Verdict, NotBetterOnTheWindowIsNotPromoted) {
  const Verdict v = With(Cmp(1.0, 0.9), Cmp(2.0, 2.0));
  EXPECT_FALSE(v.promote);
  EXPECT_NE(v.reason.find("not better than production on the drifted window"), std::string::npos) << v.reason;
}

// Found by strangers (twice): a challenger 0.8% better with an interval
// that includes zero was promoted; under noisy labels every retrain was.
TEST(Verdict, BetterOnlyByChanceIsNotPromoted) {
  const Verdict v = With(Cmp(1.0, 1.0), Cmp(2.0, 1.98, 0.05));
  EXPECT_FALSE(v.promote);
  EXPECT_NE(v.reason.find("not clearly better than production on the drifted window (the difference's 95% "
                          "interval reaches zero)"),
            std::string::npos)
      << v.reason;
  EXPECT_TRUE(With(Cmp(1.0, 1.0), Cmp(2.0, 1.9, 0.05)).promote) << "interval below zero";
}

// Found by a stranger: a challenger clearly better on the batches since the
// drift (the current regime) was rejected because the whole window, with
// batches of an earlier regime, did not show it.
TEST(Verdict, TheBatchesSinceTheDriftDecideWhenMeasured) {
  Verdict v;
  v.champion = 1;
  v.tolerance = 0.05;
  v.holdout = Cmp(1.0, 1.0);
  v.window = Cmp(2.0, 2.1, 0.05);       // worse on the whole window
  v.since_drift = Cmp(2.0, 1.9, 0.05);  // clearly better since the drift
  Decide(&v);
  EXPECT_TRUE(v.promote) << v.reason;
  EXPECT_EQ(v.reason.rfind("promoted: better on the batches since the drift", 0), 0u) << v.reason;
  EXPECT_NE(v.reason.find("drifted window: challenger 2.1"), std::string::npos) << "still reported";
  // Found by a stranger: 40 held-out rows since the drift missed a 35% gain
  // that the window (and the holdout) showed: the window decides too, unless
  // the challenger is worse beyond chance since the drift.
  v.since_drift = Cmp(2.0, 1.3, 0.75);  // interval [-1.45, 0.05]: too few rows to tell
  v.window = Cmp(2.0, 1.5, 0.05);
  Decide(&v);
  EXPECT_TRUE(v.promote) << v.reason;
  EXPECT_EQ(v.reason.rfind("promoted: better on the drifted window", 0), 0u) << v.reason;
  v.since_drift = Cmp(2.0, 2.2, 0.05);
  Decide(&v);
  EXPECT_FALSE(v.promote) << v.reason;
  EXPECT_NE(v.reason.find("worse than production on the batches since the drift"), std::string::npos)
      << v.reason;
  v.since_drift = Cmp(2.0, 2.0, 0.05);
  v.window = Cmp(2.0, 2.0, 0.05);
  Decide(&v);
  EXPECT_FALSE(v.promote) << v.reason;
  EXPECT_NE(v.reason.find("not better than production on the batches since the drift or the drifted window"),
            std::string::npos)
      << v.reason;
}

TEST(Verdict, AWindowWithoutLabelledRowsIsSkippedAndSaysSo) {
  Comparison none;
  none.skipped = "the training window has no labelled batches";
  const Verdict v = With(Cmp(1.0, 1.0), none);
  EXPECT_TRUE(v.promote);
  EXPECT_NE(v.reason.find("drifted window skipped (the training window has no labelled batches)"),
            std::string::npos)
      << v.reason;
  EXPECT_EQ(v.ToJson()["drifted_window"]["done"], false);
}

// Found by a stranger: `driftrun signal` with no labelled batch retrained on
// production's own data and replaced it with an identical model.
TEST(Verdict, AWindowWithNothingNewPromotesOnlyAClearGainOnTheHoldout) {
  Comparison none;
  none.skipped = "the training window has no labelled batches";
  Verdict v;
  v.champion = 1;
  v.tolerance = 0.05;
  v.window = none;
  v.window_empty = true;
  v.holdout = Cmp(1.0, 1.0, 0.0);  // the same model: every row's difference is 0
  Decide(&v);
  EXPECT_FALSE(v.promote) << v.reason;
  EXPECT_NE(v.reason.find("not clearly better than production on the holdout"), std::string::npos)
      << v.reason;
  EXPECT_NE(v.reason.find("the training window has no labelled batches"), std::string::npos) << v.reason;
  v.holdout = Cmp(1.0, 1.04, 0.01);  // within the tolerance, but worse
  Decide(&v);
  EXPECT_FALSE(v.promote) << v.reason;
  v.holdout = Cmp(1.0, 0.9, 0.05);
  Decide(&v);
  EXPECT_TRUE(v.promote) << v.reason;
  EXPECT_EQ(v.reason.rfind("promoted: better on the holdout beyond chance", 0), 0u) << v.reason;
}

// What the service's journal baselines read (Service::JournalBaselines).
TEST(Verdict, RecordsWhetherTheChallengerIsSoundAndGainsNothingSinceTheDrift) {
  Verdict v;
  v.champion = 1;
  v.tolerance = 0.05;
  v.holdout = Cmp(1.0, 1.0);
  v.window = Cmp(2.0, 2.0, 0.05);
  v.since_drift = Cmp(2.0, 2.0, 0.05);  // lo -0.05 >= -0.05 * 2.0
  Decide(&v);
  EXPECT_TRUE(v.holdout_ok && v.no_gain_since_drift) << v.ToJson().dump();
  EXPECT_EQ(v.ToJson()["holdout_ok"], true);
  EXPECT_EQ(v.ToJson()["no_gain_since_drift"], true);
  v.since_drift = Cmp(2.0, 1.95, 0.2);  // a wide interval: at best a 12% gain
  Decide(&v);
  EXPECT_FALSE(v.no_gain_since_drift);
  v.since_drift = Cmp(2.0, 2.0, 0.05);
  v.holdout = Cmp(1.0, 1.2);  // a broken challenger
  Decide(&v);
  EXPECT_FALSE(v.holdout_ok);
  EXPECT_TRUE(v.no_gain_since_drift);
  v.since_drift = Comparison{};  // not measured
  Decide(&v);
  EXPECT_FALSE(v.no_gain_since_drift);
}

TEST(Verdict, AnEmptyHoldoutIsNeverPromoted) {
  Comparison none;
  none.skipped = "no rows";
  EXPECT_FALSE(With(none, Cmp(2.0, 1.0)).promote);
}

}  // namespace
}  // namespace driftrun
