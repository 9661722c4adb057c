#include "monitor/batch_check.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "common/text.h"
#include "dataio/h5_io.h"
#include "dataio/sharding.h"
#include "dataio/tabular_data.h"

namespace driftrun {
namespace {

// The q-quantile of sorted values (linear interpolation, numpy's default).
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::string Pct(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * v);
  return buf;
}

std::string Loss(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// The percentile interval of `reps` resampled means of `v` (with replacement,
// splitmix64 from *state), each mapped by `of_mean` (which may draw from
// *state too, after the resample).
template <typename F>
std::pair<double, double> ResampledInterval(const std::vector<double>& v, int64_t reps, uint64_t* state,
                                            double level, F&& of_mean) {
  const uint64_t n = v.size();
  std::vector<double> out(static_cast<size_t>(reps));
  for (auto& o : out) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += v[SplitMix64(state) % n];
    o = of_mean(sum / static_cast<double>(n));
  }
  std::sort(out.begin(), out.end());
  return {Quantile(out, (1 - level) / 2), Quantile(out, (1 + level) / 2)};
}

}  // namespace

std::pair<double, double> BootstrapMeanInterval(const std::vector<double>& v, int64_t reps, uint64_t seed,
                                                double level) {
  if (v.empty() || reps < 1) return {NAN, NAN};
  uint64_t state = seed;
  return ResampledInterval(v, reps, &state, level, [](double mean) { return mean; });
}

std::pair<double, double> BootstrapRiseInterval(const std::vector<double>& v, double reference,
                                                int64_t reference_rows, int64_t reps, uint64_t seed,
                                                double level) {
  if (v.empty() || reps < 1 || !(reference > 0)) return {NAN, NAN};
  const uint64_t n = v.size();
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(n);
  for (double x : v) var += (x - mean) * (x - mean);
  // The reference rows' spread, scaled from v's by the ratio of the means
  // (losses spread in proportion to their level): v's own spread made a noisy
  // batch's reference as noisy as the batch, and the interval absurdly wide.
  const double ref_se = reference_rows > 0 && n > 1 && mean > 0
                            ? std::sqrt(var / static_cast<double>(n - 1)) / mean * reference /
                                  std::sqrt(static_cast<double>(reference_rows))
                            : 0.0;
  uint64_t state = seed;
  const auto uniform = [&state] { return (static_cast<double>(SplitMix64(&state) >> 11) + 0.5) * 0x1.0p-53; };
  return ResampledInterval(v, reps, &state, level, [&](double resampled) {
    double ref = reference;
    if (ref_se > 0) {  // Box-Muller: one standard normal draw
      ref += ref_se * std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
      ref = std::max(ref, 1e-3 * reference);
    }
    return resampled / ref - 1;
  });
}

nlohmann::json ConceptCheck::ToJson() const {
  if (!checked) return {{"checked", false}, {"reason", reason}};
  return {{"checked", true},
          {"loss", loss},
          {"reference_loss", reference},
          {"reference_rows", reference_rows},
          {"rise", rise},
          {"rise_lo", rise_lo},
          {"rise_hi", rise_hi},
          {"drifted", drifted},
          {"reason", reason}};
}

ConceptCheck CheckConcept(const std::vector<double>& row_losses, double reference_loss,
                          int64_t reference_rows, double metric_drop, int64_t reps, uint64_t seed,
                          const std::string& reference_name) {
  ConceptCheck c;
  if (row_losses.empty()) {
    c.reason = "no labelled rows";
    return c;
  }
  if (!(reference_loss > 0) || !std::isfinite(reference_loss)) {
    c.reason = "the production version has no recorded holdout loss to compare with";
    return c;
  }
  double sum = 0;
  for (double l : row_losses) sum += l;
  c.checked = true;
  c.reference = reference_loss;
  c.reference_rows = std::max<int64_t>(0, reference_rows);
  c.loss = sum / static_cast<double>(row_losses.size());
  c.rise = c.loss / reference_loss - 1;
  std::tie(c.rise_lo, c.rise_hi) =
      BootstrapRiseInterval(row_losses, reference_loss, c.reference_rows, reps, seed);
  if (!std::isfinite(c.loss)) {
    c.drifted = true;
    c.reason = "the production model's loss on the batch is not finite";
    return c;
  }
  c.drifted = c.rise >= metric_drop && c.rise_lo > 0;
  const std::string numbers =
      "loss " + Loss(c.loss) + " vs " + reference_name + " " + Loss(reference_loss) +
      (c.reference_rows > 0 ? " (" + std::to_string(c.reference_rows) + " rows)" : "") + ": " +
      (c.rise >= 0 ? "+" : "") + Pct(c.rise) + " (95% interval " + Pct(c.rise_lo) + " to " + Pct(c.rise_hi) +
      ")";
  if (c.drifted) {
    c.reason =
        numbers + ", at least trigger.metric_drop " + Pct(metric_drop) + " and above zero: concept drift";
  } else if (c.rise >= metric_drop) {
    c.reason = numbers +
               ": the rise reaches trigger.metric_drop but its interval includes zero (too few rows, in "
               "the batch or behind the reference loss, to tell): no concept drift";
  } else {
    c.reason = numbers + ": below trigger.metric_drop " + Pct(metric_drop) + ": no concept drift";
  }
  return c;
}

Result<BatchDrift> CheckBatchDrift(const std::string& file, const Profile& reference, const Config& cfg) {
  DRIFTRUN_ASSIGN_OR_RETURN(DriftOptions opts, DriftOptions::FromConfig(cfg));
  DRIFTRUN_ASSIGN_OR_RETURN(FeatureMatrix m, ReadFeatureMatrix(file, cfg.Str("data.features")));
  BatchDrift b;
  b.rows = m.rows;
  {
    DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(file));
    b.labelled = r->Has(cfg.Str("data.labels"));
  }
  std::vector<std::string> names;
  for (const auto& f : reference.features) names.push_back(f.name);
  const std::string where = "'" + file + "' dataset '" + cfg.Str("data.features") + "'";
  if (!m.named && m.dim != static_cast<int64_t>(names.size())) {
    return Status::Data(where + " has " + std::to_string(m.dim) + " columns; the model's reference has " +
                        std::to_string(names.size()));
  }
  DRIFTRUN_RETURN_IF_ERROR(AlignColumns(names, m.names, m.named, where, m.rows, &m.x, &b.warnings,
                                        "the model's reference profile"));
  at::Tensor x = at::from_blob(m.x.data(), {m.rows, static_cast<int64_t>(names.size())}, at::kFloat);
  DRIFTRUN_ASSIGN_OR_RETURN(b.drift, CompareProfile(reference, x, names, opts));
  b.drift.current = file;
  return b;
}

}  // namespace driftrun
