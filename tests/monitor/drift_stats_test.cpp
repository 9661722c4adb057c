// Drift statistics against values computed with scipy 1.17 (scipy.stats.kstwo,
// chisquare, chi2): an independent implementation, not our own output. The
// sample-based statistics are cross-checked end to end by
// tests/integration/test_drift.py.
#include "monitor/drift_stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace driftrun {
namespace {

struct KsCase {
  int64_t n;
  double x;
  double sf;  // scipy.stats.kstwo.sf(x, n)
};

TEST(DriftStats, KolmogorovSfMatchesScipyInEveryBranch) {
  const KsCase cases[] = {
      {50, 0.1, 0.6623112704658186},         // n <= 140, Durbin matrix
      {50, 0.25, 0.0030657620198697444},     // n <= 140, Pomeranz in scipy, Durbin here
      {1818, 0.03, 0.07430606520651517},     // Pelz-Good
      {1818, 0.01, 0.9925794846677786},      // Pelz-Good
      {10000, 0.005, 0.9628778025204304},    // Pelz-Good
      {200, 0.015, 0.9999999998322193},      // Durbin matrix, large n
      {1818, 0.05, 0.00021731672958164863},  // 2 x Smirnov
      {30, 0.6, 7.392006292214292e-11},      // x >= 0.5: 2 x Smirnov
      {1000, 0.1, 3.703687096817711e-09},    // 2 x Smirnov, small p
      {7, 0.1, 0.9999899731574429},          // Ruben-Gambino
      {100000, 0.004, 0.08130148920222469},  // Pelz-Good, n > 100000 boundary
  };
  for (const auto& c : cases) {
    const double got = KolmogorovSf(c.n, c.x);
    EXPECT_NEAR(got, c.sf, 1e-6 * std::max(1.0, c.sf)) << "n " << c.n << " x " << c.x;
    if (c.sf < 1e-3) EXPECT_NEAR(got / c.sf, 1.0, 1e-6) << "relative, n " << c.n << " x " << c.x;
  }
  EXPECT_EQ(KolmogorovSf(10, 0.0), 1.0);
  EXPECT_EQ(KolmogorovSf(10, 1.0), 0.0);
}

TEST(DriftStats, ChiSquareMatchesScipy) {
  auto a = ChiSquare({10, 20, 30, 40}, {25, 25, 25, 25});
  EXPECT_NEAR(a.statistic, 20.0, 1e-12);
  EXPECT_NEAR(a.pvalue, 0.00016974243555282632, 1e-12);
  auto b = ChiSquare({105, 95, 300, 500}, {1, 1, 3, 5});  // reference proportions 0.1, 0.1, 0.3, 0.5
  EXPECT_NEAR(b.statistic, 0.5, 1e-12);
  EXPECT_NEAR(b.pvalue, 0.9188914116546758, 1e-10);
  EXPECT_NEAR(GammaQ(3.5, 1.75), 0.8352254826103422, 1e-12);           // chi2.sf(3.5, 7)
  EXPECT_NEAR(GammaQ(1.5, 50.0) / 1.5541594313896026e-21, 1.0, 1e-9);  // chi2.sf(100, 3)
  EXPECT_NEAR(GammaQ(0.5, 0.1), 0.6547208460185768, 1e-12);            // chi2.sf(0.2, 1)
}

// The missing-share rule's chance test; values from scipy.stats.binom.sf(k - 1, n, p).
TEST(DriftStats, BinomialSfMatchesScipy) {
  EXPECT_NEAR(BinomialSf(2, 15, 0.02) / 0.03533831491212548, 1.0, 1e-10);
  EXPECT_NEAR(BinomialSf(4, 15, 0.02) / 0.00018300568880645981, 1.0, 1e-10);
  EXPECT_NEAR(BinomialSf(3, 3, 0.02) / 8.000000000000001e-06, 1.0, 1e-10);
  EXPECT_NEAR(BinomialSf(130, 1000, 0.1) / 0.0013413983708734428, 1.0, 1e-9);
  EXPECT_NEAR(BinomialSf(60, 400, 0.1) / 0.0010528245171127764, 1.0, 1e-9);
  EXPECT_EQ(BinomialSf(1, 15, 0.0), 0.0);
  EXPECT_EQ(BinomialSf(0, 10, 0.3), 1.0);
  EXPECT_EQ(BinomialSf(11, 10, 0.3), 0.0);
  // Past 10,000 rows the normal approximation: within 15% of scipy 3.3 sd out (the rule looks far beyond).
  EXPECT_NEAR(BinomialSf(1100, 10001, 0.1) / 0.0005363538750445514, 1.0, 0.15);
}

TEST(DriftStats, KsAndWassersteinOnTinySamples) {
  // By hand: F_a, F_b step at 1,2,3 and 2,3,4.
  std::vector<float> a = {1, 2, 3}, b = {2, 3, 4};
  EXPECT_NEAR(KsTwoSample(a, b).statistic, 1.0 / 3, 1e-12);
  EXPECT_NEAR(WassersteinSorted(a, b), 1.0, 1e-12);
  EXPECT_NEAR(KsTwoSample(a, a).statistic, 0.0, 1e-12);
  EXPECT_NEAR(KsTwoSample(a, a).pvalue, 1.0, 1e-12);
}

TEST(DriftStats, PsiAndJensenShannon) {
  EXPECT_NEAR(Psi({10, 10}, {10, 10}), 0.0, 1e-15);
  // (0.8-0.5) ln(0.8/0.5) + (0.2-0.5) ln(0.2/0.5)
  EXPECT_NEAR(Psi({5, 5}, {8, 2}), 0.3 * std::log(1.6) - 0.3 * std::log(0.4), 1e-12);
  EXPECT_NEAR(JensenShannon({1, 0}, {0, 1}), std::sqrt(std::log(2.0)), 1e-12);
  EXPECT_NEAR(JensenShannon({3, 1}, {3, 1}), 0.0, 1e-12);
  EXPECT_EQ(CountsInBins({1, 2, 2, 3, 5}, {2, 4}), (std::vector<double>{3, 1, 1}));
  EXPECT_NEAR(QuantileSorted({1, 2, 3, 4}, 0.5), 2.5, 1e-12);
}

TEST(DriftStats, RadixSortEqualsStdSort) {
  std::vector<float> v;
  uint64_t s = 12345;
  for (int i = 0; i < 100000; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const int32_t bits = static_cast<int32_t>(s >> 32);
    float f = static_cast<float>(bits) * 1e-6f;
    if (i % 7 == 0) f = -f * 1e-30f;  // tiny negatives and denormal-range values
    if (i % 11 == 0) f = 0.0f;
    v.push_back(f);
  }
  v.push_back(-3.4e38f);
  v.push_back(3.4e38f);
  std::vector<float> want = v;
  std::sort(want.begin(), want.end());
  RadixSortFloats(&v);
  EXPECT_EQ(v, want);
  std::vector<float> one = {2.5f};
  RadixSortFloats(&one);
  EXPECT_EQ(one, std::vector<float>{2.5f});
}

}  // namespace
}  // namespace driftrun
