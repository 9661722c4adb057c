// What an undrifted batch looks like: the distribution of the flagging
// statistic between a reference and batches of the same size drawn from the
// reference itself (as NannyML derives its thresholds), so that small batches
// do not raise alarms by sampling noise alone.
//
// Each draw is a pair of multinomial samples over the reference's 102
// percentile slots (its profile's fine histogram), one the reference's size and
// one of n values, as two independent samples of one distribution would be;
// each draw's statistic is the histogram version (KS as the largest CDF gap
// with its p-value, Wasserstein by the trapezoid rule over the gaps / reference
// std, PSI over the decile bins,
// Jensen-Shannon bias-corrected). Deterministic for a given seed. Pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace driftrun {

struct NullInputs {
  std::vector<double> fine_edges;   // 101 percentile edges
  std::vector<double> fine_counts;  // 102 slots: the reference's counts
  double ref_std = 0;
  double n = 0;  // rows of the batch (its finite values)
};

// `method`'s statistic oriented so that larger means more drift (1 - p for KS,
// the bias-corrected distance for Jensen-Shannon): what thresholds and null
// draws compare.
double MethodScore(const std::string& method, double ks_pvalue, double psi, double js_corrected,
                   double wasserstein);

// The 99th percentile over `draws` batches of the score of `method` (ks: 1 -
// p-value; psi; wasserstein; jensenshannon), oriented as FeatureDrift::score.

double NullScoreP99(const NullInputs& in, const std::string& method, uint64_t seed, int draws = 200);

// The histogram statistics of batch counts `cc` against reference counts `rc`
// over the same 102 percentile slots (shared with CompareProfile).
struct HistogramStats {
  double ks_statistic = 0, ks_pvalue = 1, wasserstein = 0, psi = 0, js_corrected = 0;
};
HistogramStats StatsFromSlots(const std::vector<double>& rc, const std::vector<double>& cc,
                              const std::vector<double>& fine_edges, double ref_std);

}  // namespace driftrun
