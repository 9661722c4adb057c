// The finite-sample corrections of drift flagging: the bias-corrected
// Jensen-Shannon distance and the threshold from batches drawn from the
// reference itself (monitor/drift_null.h).
#include "monitor/drift_null.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "monitor/drift_stats.h"

namespace driftrun {
namespace {

// Counts of `n` draws over k equally likely bins.
std::vector<double> Draw(int k, int n, std::mt19937_64* rng) {
  std::vector<double> c(k, 0.0);
  std::uniform_int_distribution<int> pick(0, k - 1);
  for (int i = 0; i < n; ++i) c[pick(*rng)] += 1;
  return c;
}

TEST(DriftNull, CorrectedJensenShannonRemovesTheSamplingBias) {
  // Two samples of one distribution over 100 bins, 20,000 and 1,000 values:
  // the raw distance is sqrt((k - 1) / (8 n_eff)) ~ 0.11 on average, the
  // corrected one close to 0 (the false alarms: raw 0.12-0.14 >= 0.1).
  std::mt19937_64 rng(5);
  double raw = 0, corrected = 0;
  for (int t = 0; t < 50; ++t) {
    const auto a = Draw(100, 20000, &rng), b = Draw(100, 1000, &rng);
    raw += JensenShannon(a, b) / 50;
    corrected += JensenShannonCorrected(a, b) / 50;
  }
  const double n_eff = 20000.0 * 1000 / 21000;
  EXPECT_NEAR(raw, std::sqrt(99 / (8 * n_eff)), 0.01);
  EXPECT_LT(corrected, 0.03);
  // A real difference survives: half the mass moved to other bins.
  std::vector<double> p(100, 1.0), q(100, 1.0);
  for (int k = 0; k < 50; ++k) q[k] = 0.2;
  for (auto& v : p) v *= 200;
  for (auto& v : q) v *= 200;
  EXPECT_GT(JensenShannonCorrected(p, q), 0.9 * JensenShannon(p, q));
  EXPECT_EQ(JensenShannonCorrected(p, p), 0.0);
}

NullInputs Normal(double n) {
  // Percentile edges of a standard normal and 10,000 reference rows.
  NullInputs in;
  for (int k = 0; k <= 100; ++k) {
    const double q = std::min(0.999, std::max(0.001, k / 100.0));
    // inverse normal CDF by bisection on erfc
    double lo = -6, hi = 6;
    for (int i = 0; i < 60; ++i) {
      const double mid = (lo + hi) / 2;
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < q ? lo : hi) = mid;
    }
    in.fine_edges.push_back(lo);
  }
  in.fine_counts.assign(102, 100.0);
  in.fine_counts[0] = in.fine_counts[101] = 0;
  in.ref_std = 1;
  in.n = n;
  return in;
}

TEST(DriftNull, ThresholdShrinksWithTheBatchAndIsDeterministic) {
  for (const char* m : {"wasserstein", "psi", "jensenshannon"}) {
    const double small = NullScoreP99(Normal(500), m, 1), large = NullScoreP99(Normal(5000), m, 1);
    EXPECT_GT(small, large) << m;
    EXPECT_GT(large, 0) << m;
    EXPECT_EQ(small, NullScoreP99(Normal(500), m, 1)) << m;
  }
  // KS p-values are uniform without drift: 1 - p reaches about 0.99 in 1% of draws.
  const double ks = NullScoreP99(Normal(2000), "ks", 3, 400);
  EXPECT_GT(ks, 0.95);
  EXPECT_LE(ks, 1.0);
}

TEST(DriftNull, AnEmptyBatchHasNoThreshold) {
  EXPECT_EQ(NullScoreP99(Normal(0), "wasserstein", 1), 0.0);
}

}  // namespace
}  // namespace driftrun
