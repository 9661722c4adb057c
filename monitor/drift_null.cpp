#include "monitor/drift_null.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "monitor/drift_stats.h"
#include "monitor/profile.h"

namespace driftrun {
namespace {

// The 10 decile bins as sums of the 102 percentile slots (slot s holds values
// between fine edges s - 1 and s; decile edge k is fine edge 10 k).
std::vector<double> DecileCounts(const std::vector<double>& slots) {
  std::vector<double> out(kPsiBins, 0.0);
  const int per = kFineQuantiles / kPsiBins;
  for (size_t s = 0; s < slots.size(); ++s) {
    const int b = std::min<int>(kPsiBins - 1, std::max<int>(0, (static_cast<int>(s) - 1) / per));
    out[static_cast<size_t>(b)] += slots[s];
  }
  return out;
}

}  // namespace

double MethodScore(const std::string& method, double ks_pvalue, double psi, double js_corrected,
                   double wasserstein) {
  if (method == "ks") return 1 - ks_pvalue;
  if (method == "psi") return psi;
  if (method == "jensenshannon") return js_corrected;
  return wasserstein;
}

HistogramStats StatsFromSlots(const std::vector<double>& rc, const std::vector<double>& cc,
                              const std::vector<double>& fine_edges, double ref_std) {
  HistogramStats h;
  double nr = 0, nc = 0;
  for (double v : rc) nr += v;
  for (double v : cc) nc += v;
  if (nr <= 0 || nc <= 0) return h;
  // CDFs at the percentile edges; KS as their largest gap; Wasserstein by the
  // trapezoid rule over the gaps.
  double fr = 0, fc = 0, d = 0, w = 0, prev_gap = 0;
  for (size_t k = 0; k < fine_edges.size(); ++k) {
    fr += rc[k] / nr;
    fc += cc[k] / nc;
    const double gap = std::fabs(fr - fc);
    d = std::max(d, gap);
    if (k > 0) w += 0.5 * (gap + prev_gap) * (fine_edges[k] - fine_edges[k - 1]);
    prev_gap = gap;
  }
  h.ks_statistic = d;
  const double m = std::max(nr, nc), n = std::min(nr, nc);
  h.ks_pvalue = KolmogorovSf(std::llround(m * n / (m + n)), d);
  h.wasserstein = ref_std > 0 ? w / ref_std : w;
  h.psi = Psi(DecileCounts(rc), DecileCounts(cc));
  h.js_corrected = JensenShannonCorrected(rc, cc);
  return h;
}

double NullScoreP99(const NullInputs& in, const std::string& method, uint64_t seed, int draws) {
  double total = 0;
  for (double v : in.fine_counts) total += v;
  const int64_t n = std::llround(in.n);
  if (total <= 0 || n <= 0 || draws < 1) return 0;
  std::mt19937_64 rng(seed);
  // Multinomial draws of `rows` values over the slots, by conditional binomials.
  auto draw = [&](int64_t rows, std::vector<double>* out) {
    out->assign(in.fine_counts.size(), 0.0);
    int64_t left = rows;
    double mass = total;
    for (size_t s = 0; s < out->size(); ++s) {
      const double p = mass > 0 ? std::min(1.0, in.fine_counts[s] / mass) : 0;
      const int64_t k = left > 0 && p > 0 ? std::binomial_distribution<int64_t>(left, p)(rng) : 0;
      (*out)[s] = static_cast<double>(k);
      left -= k;
      mass -= in.fine_counts[s];
    }
  };
  // Both sides are samples: a reference of its size and a batch of n.
  std::vector<double> scores, rc, cc;
  for (int d = 0; d < draws; ++d) {
    draw(std::llround(total), &rc);
    draw(n, &cc);
    const HistogramStats h = StatsFromSlots(rc, cc, in.fine_edges, in.ref_std);
    scores.push_back(MethodScore(method, h.ks_pvalue, h.psi, h.js_corrected, h.wasserstein));
  }
  std::sort(scores.begin(), scores.end());
  return scores[static_cast<size_t>(
      std::min<double>(scores.size() - 1, std::ceil(0.99 * scores.size()) - 1))];
}

}  // namespace driftrun
