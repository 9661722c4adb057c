#include "monitor/drift.h"

#include "common/guard.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "kernels/kernel_math.h"
#include "monitor/drift_null.h"
#include "monitor/drift_stats.h"

namespace driftrun {
namespace {

// How unlikely a batch's missing share must be, drawn at the reference's
// share, to flag the feature (with the rise past drift.missing_rise).
constexpr double kMissingChance = 1e-3;

// The statistic that flags features: method, with "auto" resolved by the
// reference's size (Evidently's rule).
std::string EffectiveMethod(const DriftOptions& o, int64_t ref_rows) {
  if (o.method != "auto") return o.method;
  return ref_rows <= 1000 ? "ks" : "wasserstein";
}

double MethodScore(const FeatureDrift& f, const std::string& m) {
  return driftrun::MethodScore(m, f.ks_pvalue, f.psi, f.jensen_shannon_corrected, f.wasserstein);
}

// Flags a feature by the method's statistic, unless a batch of its size drawn
// from the reference itself scores as high in 1% of draws (f->null_p99, set by
// the caller; see drift_null.h); then by its missing share.
void Decide(const DriftOptions& o, int64_t ref_rows, int64_t cur_rows, FeatureDrift* f) {
  const std::string m = EffectiveMethod(o, ref_rows);
  f->decided_by = m;
  f->score = MethodScore(*f, m);
  if (m == "ks") {
    f->drifted = f->ks_pvalue < o.ks_pvalue;
  } else if (m == "psi") {
    f->drifted = f->psi >= o.psi;
  } else if (m == "jensenshannon") {
    f->drifted = f->jensen_shannon_corrected >= o.jensenshannon;
  } else {
    f->drifted = f->wasserstein >= o.wasserstein;
  }
  if (f->drifted && f->score <= f->null_p99) {
    f->drifted = false;
    f->within_noise = true;
  }
  // A broken column drifts whatever the statistics say (they see only its
  // finite values, or none).
  // A rise counts when a batch of its size drawn with the reference's missing
  // share would reach it in under 0.1% of draws: 2 missing values in 15 rows
  // are 13% by chance alone (p = 0.035 at a 2% share), not a broken pipeline.
  const double rise = f->cur_missing - f->ref_missing;
  const auto missing = static_cast<int64_t>(std::llround(f->cur_missing * static_cast<double>(cur_rows)));
  const bool beyond_chance = cur_rows <= 0 || BinomialSf(missing, cur_rows, f->ref_missing) < kMissingChance;
  if (f->ref_missing >= 1.0 || ((f->cur_missing >= 1.0 || rise > o.missing_rise) && beyond_chance)) {
    f->drifted = true;
    f->within_noise = false;
    f->decided_by = "missing";
    f->score = rise;
  }
}

// A side without finite values has no statistics: NaN (null in the JSON), not
// the "no drift" values 0 and p = 1.
void MarkNotComputable(FeatureDrift* f) {
  f->psi = f->ks_statistic = f->ks_pvalue = f->wasserstein = f->jensen_shannon = f->jensen_shannon_corrected =
      NAN;
}

void Finish(DriftReport* r) {
  r->drifted = 0;
  for (const auto& f : r->features) r->drifted += f.drifted;
  r->drift_share = r->features.empty() ? 0 : static_cast<double>(r->drifted) / r->features.size();
  r->dataset_drift = r->drift_share >= r->opts.share;
}

// The finite values of every column, in one row-major pass (a column-at-a-time
// gather would stride through the whole matrix once per column), then each
// column radix-sorted, in parallel over columns.
std::vector<std::vector<float>> SortedFiniteColumns(const float* x, int64_t rows, int64_t cols) {
  std::vector<std::vector<float>> out(static_cast<size_t>(cols));
  for (auto& c : out) c.reserve(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = x + i * cols;
    for (int64_t j = 0; j < cols; ++j) {
      if (std::isfinite(row[j])) out[j].push_back(row[j]);
    }
  }
  at::parallel_for(0, cols, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) RadixSortFloats(&out[j]);
  });
  return out;
}

std::vector<double> Shares(const std::vector<double>& c) {
  double s = 0;
  for (double v : c) s += v;
  std::vector<double> out;
  for (double v : c) out.push_back(s > 0 ? v / s : 0);
  return out;
}

// Counts of sorted values in numpy.histogram's equal-width bins over [lo, hi]
// (edges[b] <= v < edges[b + 1], the last bin closed): one walk, no searches.
std::vector<double> EqualWidthCounts(const std::vector<float>& sorted, const std::vector<double>& edges) {
  const size_t k = edges.size() - 1;
  std::vector<double> c(k, 0.0);
  size_t b = 0;
  for (float v : sorted) {
    while (b + 1 < k && static_cast<double>(v) >= edges[b + 1]) ++b;
    c[b] += 1;
  }
  return c;
}

// Exact statistics of one feature from the sorted finite values of the
// reference (a) and the batch (b): KS, Wasserstein-1 / sd, PSI on the
// reference's deciles, Jensen-Shannon on Sturges bins of the pooled sample
// (numpy's rule), raw and bias-corrected.
void ExactStats(const std::vector<float>& a, const std::vector<float>& b, double sd, FeatureDrift* f) {
  const KsResult ks = KsTwoSample(a, b);
  f->ks_statistic = ks.statistic;
  f->ks_pvalue = ks.pvalue;
  const double w = WassersteinSorted(a, b);
  f->wasserstein = sd > 0 ? w / sd : w;
  f->edges.clear();
  for (int k = 1; k < kPsiBins; ++k) f->edges.push_back(QuantileSorted(a, static_cast<double>(k) / kPsiBins));
  const auto rc = CountsInBins(a, f->edges), cc = CountsInBins(b, f->edges);
  f->psi = Psi(rc, cc);
  f->ref_share = Shares(rc);
  f->cur_share = Shares(cc);
  const double lo = std::min(a.front(), b.front()), hi = std::max(a.back(), b.back());
  const size_t nb = hi > lo ? static_cast<size_t>(std::ceil(std::log2(a.size() + b.size()) + 1)) : 1;
  std::vector<double> e(nb + 1);
  for (size_t k = 0; k < nb; ++k) e[k] = lo + k * ((hi - lo) / nb);
  e[nb] = hi > lo ? hi : lo + 1;
  const auto ra = EqualWidthCounts(a, e), rb = EqualWidthCounts(b, e);
  f->jensen_shannon = JensenShannon(ra, rb);
  f->jensen_shannon_corrected = JensenShannonCorrected(ra, rb);
}

// KS p-values are uniform without drift, so 1 - p exceeds 0.99 in 1% of
// batches whatever their size: no draws needed. Wasserstein, PSI and
// Jensen-Shannon noise shrinks with the batch; from 20,000 rows on it is below a
// tenth of their default thresholds (e.g. about 0.01 for the normalised
// Wasserstein distance), so no draws are made there either (threshold 0).
constexpr size_t kNullDrawsBelow = 20000;
bool NeedsNullDraws(const std::string& method, size_t n) {
  return method != "ks" && n < kNullDrawsBelow;
}
double AnalyticNullP99(const std::string& method) {
  return method == "ks" ? 0.99 : 0.0;
}

// n values drawn with replacement from sorted `a`, sorted (a counting pass:
// O(n + |a|), no sort).
void Resample(const std::vector<float>& a, size_t n, std::mt19937_64* rng, std::vector<uint32_t>* counts,
              std::vector<float>* out) {
  std::uniform_int_distribution<size_t> pick(0, a.size() - 1);
  counts->assign(a.size(), 0);
  for (size_t i = 0; i < n; ++i) ++(*counts)[pick(*rng)];
  out->clear();
  for (size_t k = 0; k < a.size(); ++k) out->insert(out->end(), (*counts)[k], a[k]);
}

// The 99th percentile of `method`'s score between two independent samples of
// the reference's distribution, the sizes of the reference and of the batch
// (both drawn with replacement from the reference), computed exactly as for
// the real pair. A reference of more than 50,000 values is represented by
// 50,000 of its order statistics (evenly spaced), which keeps its distribution,
// and a batch of more than 50,000 by a draw of 50,000: the noise of larger
// samples is smaller still, so the threshold is then conservative (KS p-values
// are uniform under the null whatever the sizes). Cost: at most 100 draws of
// 100,000 values per feature.
double ExactNullP99(const std::vector<float>& a, double sd, size_t n, const std::string& method,
                    uint64_t seed) {
  constexpr size_t kMaxRef = 50000;
  constexpr int kDraws = 100;
  std::vector<float> ref;
  const std::vector<float>* r = &a;
  if (a.size() > kMaxRef) {
    for (size_t i = 0; i < kMaxRef; ++i) ref.push_back(a[i * (a.size() - 1) / (kMaxRef - 1)]);
    r = &ref;
  }
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> counts;
  std::vector<float> x, y;
  std::vector<double> scores;
  FeatureDrift tmp;
  for (int d = 0; d < kDraws; ++d) {
    Resample(*r, r->size(), &rng, &counts, &x);
    Resample(*r, std::min(n, kMaxRef), &rng, &counts, &y);
    ExactStats(x, y, sd, &tmp);
    scores.push_back(MethodScore(tmp, method));
  }
  std::sort(scores.begin(), scores.end());
  return scores[kDraws * 99 / 100 - 1];
}

Status CheckShapes(int64_t ref_cols, const at::Tensor& cur, const std::vector<std::string>& names) {
  if (cur.dim() != 2 || cur.size(1) != ref_cols || static_cast<int64_t>(names.size()) != ref_cols) {
    return Status::Data("the current batch has " + std::to_string(cur.dim() == 2 ? cur.size(1) : 0) +
                        " features, the reference " + std::to_string(ref_cols));
  }
  if (cur.size(0) == 0) return Status::Data("the current batch is empty (0 rows); nothing to compare");
  return Status::Ok();
}

}  // namespace

Result<DriftOptions> DriftOptions::FromConfig(const Config& c) {
  DriftOptions o;
  o.method = c.Str("drift.method");
  o.share = c.Float("drift.share");
  o.ks_pvalue = c.Float("drift.ks_pvalue");
  o.wasserstein = c.Float("drift.wasserstein");
  o.psi = c.Float("drift.psi");
  o.psi_watch = c.Float("drift.psi_watch");
  o.jensenshannon = c.Float("drift.jensenshannon");
  o.memory_mb = c.Float("drift.memory_mb");
  o.missing_rise = c.Float("drift.missing_rise");
  if (o.missing_rise < 0 || o.missing_rise >= 1) return Status::Usage("drift.missing_rise must be in [0, 1)");
  if (o.share <= 0 || o.share > 1) return Status::Usage("drift.share must be in (0, 1]");
  if (o.memory_mb < 0) return Status::Usage("drift.memory_mb must be >= 0");
  return o;
}

static Result<DriftReport> CompareDataImpl(const at::Tensor& ref_in, const at::Tensor& cur_in,
                                           const std::vector<std::string>& names, const DriftOptions& opts) {
  if (ref_in.dim() != 2 || ref_in.size(0) == 0) return Status::Data("the reference data is empty (0 rows)");
  DRIFTRUN_RETURN_IF_ERROR(CheckShapes(ref_in.size(1), cur_in, names));
  const double bytes = 8.0 * (ref_in.numel() + cur_in.numel());
  if (bytes > opts.memory_mb * 1024 * 1024) {
    DRIFTRUN_ASSIGN_OR_RETURN(Profile p, BuildProfile(ref_in, names, "reference data"));
    return CompareProfile(p, cur_in, names, opts);
  }
  at::Tensor ref = ref_in.cpu().contiguous(), cur = cur_in.cpu().contiguous();
  const int64_t cols = ref.size(1), nr = ref.size(0), nc = cur.size(0);
  DriftReport r;
  r.opts = opts;
  r.method = opts.method;
  r.stats_method = "exact";
  r.ref_rows = nr;
  r.cur_rows = nc;
  r.features.resize(static_cast<size_t>(cols));
  const auto ref_cols = SortedFiniteColumns(ref.data_ptr<float>(), nr, cols);
  const auto cur_cols = SortedFiniteColumns(cur.data_ptr<float>(), nc, cols);
  const std::string method = EffectiveMethod(opts, nr);
  at::parallel_for(0, cols, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      FeatureDrift& f = r.features[j];
      f.name = names[j];
      const auto& a = ref_cols[j];
      const auto& b = cur_cols[j];
      f.ref_missing = 1.0 - static_cast<double>(a.size()) / nr;
      f.cur_missing = 1.0 - static_cast<double>(b.size()) / nc;
      if (a.empty() || b.empty()) {
        MarkNotComputable(&f);
        continue;
      }
      double mean = 0, var = 0;
      for (float v : a) mean += v;
      mean /= a.size();
      for (float v : a) var += (v - mean) * (v - mean);
      const double sd = std::sqrt(var / a.size());
      ExactStats(a, b, sd, &f);
      f.null_p99 = NeedsNullDraws(method, b.size())
                       ? ExactNullP99(a, sd, b.size(), method, static_cast<uint64_t>(j) + 1)
                       : AnalyticNullP99(method);
    }
  });
  for (auto& f : r.features) Decide(opts, nr, nc, &f);
  Finish(&r);
  return r;
}

static Result<DriftReport> CompareProfileImpl(const Profile& ref, const at::Tensor& cur_in,
                                              const std::vector<std::string>& names,
                                              const DriftOptions& opts) {
  DRIFTRUN_RETURN_IF_ERROR(CheckShapes(static_cast<int64_t>(ref.features.size()), cur_in, names));
  for (size_t j = 0; j < names.size(); ++j) {
    if (names[j] != ref.features[j].name) {
      return Status::Data("feature " + std::to_string(j) + " is '" + names[j] +
                          "' in the current batch but '" + ref.features[j].name +
                          "' in the reference; the batches must share feature names");
    }
  }
  at::Tensor cur = cur_in.cpu().contiguous();
  std::vector<std::vector<double>> psi_edges, fine_edges;
  for (const auto& f : ref.features) {
    psi_edges.push_back(f.psi_edges);
    fine_edges.push_back(f.fine_edges);
  }
  DRIFTRUN_ASSIGN_OR_RETURN(auto psi_counts, CountsAt(cur, psi_edges));
  DRIFTRUN_ASSIGN_OR_RETURN(auto fine_counts, CountsAt(cur, fine_edges));
  DriftReport r;
  r.opts = opts;
  r.method = opts.method;
  r.stats_method = "histogram";
  r.ref_rows = ref.rows;
  r.cur_rows = cur.size(0);
  for (size_t j = 0; j < ref.features.size(); ++j) {
    const FeatureProfile& p = ref.features[j];
    FeatureDrift f;
    f.name = p.name;
    const auto& rc = p.fine_counts;
    const auto& cc = fine_counts[j];
    double nr = 0, nc = 0;
    for (double v : rc) nr += v;
    for (double v : cc) nc += v;
    f.ref_missing = ref.rows > 0 ? p.missing / ref.rows : 0;
    f.cur_missing = 1.0 - nc / cur.size(0);
    if (nr <= 0 || nc <= 0) {
      MarkNotComputable(&f);
    } else {
      f.psi = Psi(p.psi_counts, psi_counts[j]);
      f.ref_share = Shares(p.psi_counts);
      f.cur_share = Shares(psi_counts[j]);
      f.edges = p.psi_edges;
      // KS and Wasserstein from the CDFs at the percentile edges (the same
      // walk the noise threshold's draws use).
      const HistogramStats h = StatsFromSlots(rc, cc, p.fine_edges, p.std);
      f.ks_statistic = h.ks_statistic;
      f.ks_pvalue = h.ks_pvalue;
      f.wasserstein = h.wasserstein;
      f.jensen_shannon_corrected = h.js_corrected;
      f.jensen_shannon = JensenShannon(rc, cc);
      f.null_p99 =
          NeedsNullDraws(EffectiveMethod(opts, ref.rows), static_cast<size_t>(nc))
              ? NullScoreP99({p.fine_edges, p.fine_counts, p.std, nc}, EffectiveMethod(opts, ref.rows), j + 1)
              : AnalyticNullP99(EffectiveMethod(opts, ref.rows));
    }
    Decide(opts, ref.rows, cur.size(0), &f);
    r.features.push_back(std::move(f));
  }
  Finish(&r);
  return r;
}

Status AddCategorical(const std::vector<CategoryProfile>& ref, const std::vector<int64_t>& cur,
                      int64_t cur_rows, const std::vector<std::string>& names, DriftReport* r) {
  const int64_t cols = static_cast<int64_t>(names.size());
  if (static_cast<int64_t>(ref.size()) != cols) {
    return Status::Data("the current batch has " + std::to_string(cols) +
                        " categorical columns, the reference " + std::to_string(ref.size()));
  }
  if (cur_rows == 0) return Status::Data("the current batch is empty (0 rows); nothing to compare");
  for (int64_t j = 0; j < cols; ++j) {
    if (ref[j].name != names[j]) {
      return Status::Data("categorical column " + std::to_string(j) + " is '" + names[j] +
                          "' in the current batch but '" + ref[j].name + "' in the reference");
    }
    const auto& vocab = ref[j].values;
    const int64_t k = static_cast<int64_t>(vocab.size());
    std::vector<double> rc = ref[j].counts, cc(k + 1, 0.0);
    rc.push_back(0.0);  // the unseen bucket
    for (int64_t i = 0; i < cur_rows; ++i) cc[kmath::VocabIndex(cur[i * cols + j], vocab.data(), k)] += 1;
    FeatureDrift f;
    f.name = names[j];
    f.categorical = true;
    const ChiSquareResult chi = ChiSquare(cc, rc);
    f.chi2_statistic = chi.statistic;
    f.chi2_pvalue = chi.pvalue;
    f.jensen_shannon = JensenShannon(rc, cc);
    f.jensen_shannon_corrected = JensenShannonCorrected(rc, cc);
    f.psi = Psi(rc, cc);
    if (r->ref_rows <= 1000) {
      f.decided_by = "chi2";
      f.score = 1 - f.chi2_pvalue;
      f.drifted = f.chi2_pvalue < r->opts.ks_pvalue;
    } else {
      f.decided_by = "jensenshannon";
      f.score = f.jensen_shannon_corrected;
      f.drifted = f.jensen_shannon_corrected >= r->opts.jensenshannon;
    }
    f.ref_share = Shares(rc);
    f.cur_share = Shares(cc);
    r->features.push_back(std::move(f));
  }
  Finish(r);
  return Status::Ok();
}

Result<DriftReport> CompareData(const at::Tensor& ref, const at::Tensor& cur,
                                const std::vector<std::string>& names, const DriftOptions& opts) {
  return Guarded("comparing the data", Code::kInfra, [&] { return CompareDataImpl(ref, cur, names, opts); });
}

Result<DriftReport> CompareProfile(const Profile& ref, const at::Tensor& cur,
                                   const std::vector<std::string>& names, const DriftOptions& opts) {
  return Guarded("comparing with the profile", Code::kInfra,
                 [&] { return CompareProfileImpl(ref, cur, names, opts); });
}

}  // namespace driftrun
