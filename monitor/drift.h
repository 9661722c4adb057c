// Drift detection between a reference (training data or its profile) and a
// current batch: per-feature PSI, KS (statistic and p-value), Jensen-Shannon
// distance and Wasserstein-1 normalised by the reference standard deviation, a
// drifted flag per feature and for the dataset. Raw scores are always kept.
//
// Methods: "exact" when the reference is raw data and both samples fit
// [drift] memory_mb (KS and Wasserstein on the sorted samples, PSI on exact
// reference deciles, Jensen-Shannon on Sturges bins of the pooled data, as
// numpy.histogram_bin_edges); "histogram" otherwise (from the reference profile's
// decile and percentile histograms and the current batch's counts in the same
// bins). The report says which.
//
// Which statistic flags a feature ([drift] method): "auto" follows Evidently
// (KS p-value < ks_pvalue when the reference has <= 1000 rows, else normalised
// Wasserstein >= wasserstein), or "psi", "ks", "wasserstein", "jensenshannon"
// (on the bias-corrected distance; the raw one is reported too). Whatever the
// method, a feature whose missing share (NaN, +-Inf) rises by more than
// missing_rise, or that has no finite value at all, drifts (decided_by
// "missing"): a broken column is never "stable". A statistic over its threshold
// does not flag a feature when batches of the same size drawn from the
// reference itself reach it in 1% of draws (within_noise; null_p99 reported):
// small batches do not raise alarms by sampling noise alone.
// The dataset drifts when the share of drifted features >= share.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "monitor/profile.h"

namespace driftrun {

struct DriftOptions {
  std::string method = "auto";
  double share = 0.5;
  double ks_pvalue = 0.05;
  double wasserstein = 0.1;
  double psi = 0.25;
  double psi_watch = 0.1;
  double jensenshannon = 0.1;
  double missing_rise = 0.1;
  double memory_mb = 1024;
  static Result<DriftOptions> FromConfig(const Config& cfg);
};

struct FeatureDrift {
  std::string name;
  bool categorical = false;
  double chi2_statistic = 0, chi2_pvalue = 1;  // categorical only
  double psi = 0, ks_statistic = 0, ks_pvalue = 1, jensen_shannon = 0, wasserstein = 0;
  double jensen_shannon_corrected =
      0;  // bias removed (JensenShannonCorrected): what method jensenshannon flags on
  bool drifted = false;
  std::string decided_by;                   // the statistic that set `drifted`
  double score = 0;                         // that statistic, oriented so larger means more drift
  double ref_missing = 0, cur_missing = 0;  // missing rates
  // The score a batch of this size drawn from the reference itself exceeds in
  // 1% of draws (drift_null.h); a score at or below it is noise, not drift.
  double null_p99 = 0;
  bool within_noise = false;  // over the threshold but within noise: not flagged
  // For the HTML report: the reference's decile bins and both proportions.
  std::vector<double> edges, ref_share, cur_share;
};

struct DriftReport {
  bool dataset_drift = false;
  double drift_share = 0;
  int drifted = 0;
  std::string method;        // the flagging rule
  std::string stats_method;  // exact | histogram
  int64_t ref_rows = 0, cur_rows = 0;
  std::string reference, current;
  DriftOptions opts;
  std::vector<FeatureDrift> features;

  nlohmann::json ToJson() const;  // the page: reports/drift_html.h
};

// ref, cur: float32 [rows, D] (CPU). Exact or histogram per opts.memory_mb.
Result<DriftReport> CompareData(const at::Tensor& ref, const at::Tensor& cur,
                                const std::vector<std::string>& names, const DriftOptions& opts);
// Adds categorical columns to a report: the current values (int64 [rows, C])
// counted over each reference column's categories plus one bucket for unseen
// ones; chi-square test of the current counts against the reference proportions
// and Jensen-Shannon distance. Flagged by chi-square p-value < ks_pvalue when the
// reference has <= 1000 rows, else Jensen-Shannon >= jensenshannon (Evidently's
// rule). The reference comes from ProfileCategories or a stored profile.
Status AddCategorical(const std::vector<CategoryProfile>& ref, const std::vector<int64_t>& cur,
                      int64_t cur_rows, const std::vector<std::string>& names, DriftReport* report);

Result<DriftReport> CompareProfile(const Profile& ref, const at::Tensor& cur,
                                   const std::vector<std::string>& names, const DriftOptions& opts);

}  // namespace driftrun
