// The service's batch check: the bootstrap interval against the normal
// approximation, concept drift only when the loss rise is both large and
// significant, and data drift of a real HDF5 batch against a profile with its
// columns matched by name.
#include "monitor/batch_check.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "dataio/h5_io.h"
#include "tests/common/test_paths.h"

namespace driftrun {
namespace {

// Deterministic values with a known mean and spread (no RNG in the test).
std::vector<double> Losses(size_t n, double mean, double spread) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = mean + spread * std::sin(static_cast<double>(i) * 12.9898);
  return v;
}

TEST(Bootstrap, IntervalMatchesTheNormalApproximationForALargeSample) {
  const std::vector<double> v = Losses(4000, 2.0, 1.0);
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) var += (x - mean) * (x - mean);
  const double se = std::sqrt(var / (v.size() - 1) / v.size());
  const auto [lo, hi] = BootstrapMeanInterval(v, 2000, 7);
  EXPECT_NEAR(lo, mean - 1.96 * se, 0.15 * se);
  EXPECT_NEAR(hi, mean + 1.96 * se, 0.15 * se);
  EXPECT_EQ(BootstrapMeanInterval(v, 2000, 7), std::make_pair(lo, hi)) << "seeded: the same interval";
  EXPECT_NE(BootstrapMeanInterval(v, 2000, 8).first, lo) << "another seed, other resamples";
}

TEST(ConceptCheck, NeedsALargeAndSignificantRise) {
  // 30 % worse on 2000 rows: drift.
  ConceptCheck big = CheckConcept(Losses(2000, 1.3, 0.5), 1.0, 0, 0.10);
  ASSERT_TRUE(big.checked);
  EXPECT_NEAR(big.rise, 0.3, 0.02);
  EXPECT_GT(big.rise_lo, 0);
  EXPECT_TRUE(big.drifted) << big.reason;
  EXPECT_NE(big.reason.find("concept drift"), std::string::npos);
  // As good as the holdout: no drift.
  EXPECT_FALSE(CheckConcept(Losses(2000, 1.0, 0.5), 1.0, 0, 0.10).drifted);
  // 15 % worse on average but 6 very noisy rows: not significant.
  std::vector<double> few = {0.1, 0.2, 3.0, 0.1, 2.4, 1.1};
  ConceptCheck noisy = CheckConcept(few, 1.0, 0, 0.10);
  EXPECT_GE(noisy.rise, 0.10);
  EXPECT_LE(noisy.rise_lo, 0);
  EXPECT_FALSE(noisy.drifted) << noisy.reason;
  EXPECT_NE(noisy.reason.find("includes zero"), std::string::npos) << noisy.reason;
  // Nothing to compare with.
  EXPECT_FALSE(CheckConcept({}, 1.0, 0, 0.1).checked);
  EXPECT_FALSE(CheckConcept({1.0}, NAN, 0, 0.1).checked);
}

// Found by a stranger: clean batches of a model with a 300-row holdout were
// called concept drift (+13%, interval 2% to 25%): the interval counted the
// batch's noise only, as if the holdout loss were exact. The interval now
// counts both; checked against the delta-method normal approximation of
// mean(batch) / mean(holdout) - 1.
TEST(ConceptCheck, TheHoldoutsOwnNoiseWidensTheInterval) {
  const std::vector<double> v = Losses(2000, 1.13, 1.0);
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) var += (x - mean) * (x - mean);
  var /= v.size() - 1;
  // The reference's spread: the batch's coefficient of variation at the reference level (1.0).
  const double se_batch = std::sqrt(var / v.size()), se_ref = std::sqrt(var / 2000) / mean;
  const double se_rise = std::sqrt(se_batch * se_batch + mean * mean * se_ref * se_ref);  // reference 1.0
  const auto [lo, hi] = BootstrapRiseInterval(v, 1.0, 2000, 4000, 3);
  EXPECT_NEAR(lo, mean - 1 - 1.96 * se_rise, 0.15 * se_rise);
  EXPECT_NEAR(hi, mean - 1 + 1.96 * se_rise, 0.15 * se_rise);

  const std::vector<double> clean = Losses(300, 1.13, 1.5);  // the stranger's case: 300 rows each
  ConceptCheck exact = CheckConcept(clean, 1.0, 0, 0.10);    // as before: the batch's noise only
  EXPECT_TRUE(exact.drifted) << exact.reason;
  ConceptCheck both = CheckConcept(clean, 1.0, 300, 0.10);
  EXPECT_GE(both.rise, 0.10);
  EXPECT_LE(both.rise_lo, 0) << both.reason;
  EXPECT_FALSE(both.drifted) << both.reason;
  EXPECT_NE(both.reason.find("(300 rows)"), std::string::npos) << both.reason;
  // Found by a stranger: a noisy batch (loss 1.3 +- 1.8 against a holdout of
  // 0.18) made the reference as noisy as the batch: an interval of +242% to
  // +709630%. Scaled to the reference's level, the upper end stays sane.
  const ConceptCheck noisy = CheckConcept(Losses(600, 1.3, 1.8), 0.18, 379, 0.10);
  EXPECT_TRUE(noisy.drifted) << noisy.reason;
  EXPECT_LT(noisy.rise_hi, 2 * noisy.rise) << noisy.reason;
  // A real rise on a large holdout is still drift.
  EXPECT_TRUE(CheckConcept(Losses(2000, 1.3, 0.5), 1.0, 20000, 0.10).drifted);
}

std::string WriteBatch(const std::string& path, const at::Tensor& x, const std::vector<std::string>& names) {
  auto w = H5Writer::Create(path);
  EXPECT_TRUE(w.ok());
  at::Tensor c = x.contiguous();
  EXPECT_TRUE(w.value()->Write("/features", {c.size(0), c.size(1)}, c.data_ptr<float>()).ok());
  EXPECT_TRUE(w.value()->AttrStrings("/features", "feature_names", names).ok());
  EXPECT_TRUE(w.value()->Commit().ok());
  return path;
}

TEST(BatchDrift, ColumnsAreMatchedByNameAndOthersRefused) {
  const std::string d = FreshTestDir();
  at::manual_seed(1);
  at::Tensor ref = at::randn({3000, 3});
  auto profile = BuildProfile(ref, {"a", "b", "c"}, "ref");
  ASSERT_TRUE(profile.ok());
  at::Tensor cur = at::randn({800, 3});
  cur.select(1, 0).add_(2.0);  // column a shifts by 2 sigma
  auto cfg = Config::FromString("", "defaults", {});
  ASSERT_TRUE(cfg.ok());
  auto plain =
      CheckBatchDrift(WriteBatch(d + "/plain.h5", cur, {"a", "b", "c"}), profile.value(), cfg.value());
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain.value().rows, 800);
  EXPECT_FALSE(plain.value().labelled);
  EXPECT_TRUE(plain.value().drift.features[0].drifted);
  EXPECT_FALSE(plain.value().drift.features[1].drifted);
  at::Tensor swapped = at::stack({cur.select(1, 2), cur.select(1, 0), cur.select(1, 1)}, 1);
  auto reordered = CheckBatchDrift(WriteBatch(d + "/reordered.h5", swapped, {"c", "a", "b"}), profile.value(),
                                   cfg.value());
  ASSERT_TRUE(reordered.ok()) << reordered.status().message();
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_EQ(reordered.value().drift.features[j].name, plain.value().drift.features[j].name);
    EXPECT_EQ(reordered.value().drift.features[j].score, plain.value().drift.features[j].score);
  }
  auto other =
      CheckBatchDrift(WriteBatch(d + "/other.h5", cur, {"a", "b", "z"}), profile.value(), cfg.value());
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().exit_code(), 3);
  EXPECT_NE(other.status().message().find("z"), std::string::npos) << other.status().message();
  auto narrow = CheckBatchDrift(WriteBatch(d + "/narrow.h5", cur.narrow(1, 0, 2), {"a", "b"}),
                                profile.value(), cfg.value());
  EXPECT_FALSE(narrow.ok()) << "fewer columns";
}

}  // namespace
}  // namespace driftrun
