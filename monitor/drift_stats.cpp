#include "monitor/drift_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace driftrun {
namespace {

constexpr double kPsiFloor = 1e-4;

// P(D+_n >= x), one-sided (Birnbaum-Tingey exact sum, in log space).
double Smirnov(int64_t n, double x) {
  if (x <= 0) return 1.0;
  if (x >= 1) return 0.0;
  const double dn = static_cast<double>(n);
  const int64_t jmax = static_cast<int64_t>(std::floor(dn * (1 - x)));
  const double lgn = std::lgamma(dn + 1);
  long double sum = 0;
  for (int64_t j = 0; j <= jmax; ++j) {
    const double a = 1 - x - j / dn, b = x + j / dn;
    if (a <= 0) continue;
    const double logterm =
        lgn - std::lgamma(j + 1.0) - std::lgamma(dn - j + 1) + (dn - j) * std::log(a) + (j - 1) * std::log(b);
    sum += std::exp(static_cast<long double>(logterm));
  }
  return std::min(1.0, std::max(0.0, static_cast<double>(x * sum)));
}

// Durbin matrix (Marsaglia-Tsang-Wang): P(D_n <= d), as scipy's _kolmogn_DMTW.
double KolmogorovCdfDurbin(int64_t n, double d) {
  if (d >= 1) return 1;
  const double nd = n * d;
  if (nd <= 0.5) return 0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  using Mat = std::vector<long double>;
  Mat H(static_cast<size_t>(m * m), 0.0L);
  std::vector<long double> v(m), w(m);
  long double fac = 1;
  for (int j = 1; j <= m; ++j) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1.0L - std::pow(static_cast<long double>(h), j)) * fac;
  }
  const long double tt =
      std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(static_cast<long double>(h), m);
  v[m - 1] = (1.0L + tt) * fac;
  for (int i = 1; i < m; ++i) {
    for (int r = i - 1; r < m; ++r) H[r * m + i] = w[r - i + 1];
  }
  for (int r = 0; r < m; ++r) H[r * m + 0] = v[r];
  for (int c = 0; c < m; ++c) H[(m - 1) * m + c] = v[m - 1 - c];
  auto mul = [m](const Mat& A, const Mat& B) {
    Mat C(static_cast<size_t>(m * m), 0.0L);
    for (int i = 0; i < m; ++i) {
      for (int l = 0; l < m; ++l) {
        const long double a = A[i * m + l];
        if (a == 0) continue;
        for (int j = 0; j < m; ++j) C[i * m + j] += a * B[l * m + j];
      }
    }
    return C;
  };
  Mat P(static_cast<size_t>(m * m), 0.0L);
  for (int i = 0; i < m; ++i) P[i * m + i] = 1;
  int64_t nn = n;
  int expnt = 0, hexpnt = 0;
  const long double ep128 = std::ldexp(1.0L, 128), em128 = std::ldexp(1.0L, -128);
  while (nn > 0) {
    if (nn % 2) {
      P = mul(P, H);
      expnt += hexpnt;
    }
    H = mul(H, H);
    hexpnt *= 2;
    if (std::fabs(H[(k - 1) * m + (k - 1)]) > ep128) {
      for (auto& x : H) x /= ep128;
      hexpnt += 128;
    }
    nn /= 2;
  }
  long double p = P[(k - 1) * m + (k - 1)];
  for (int64_t i = 1; i <= n; ++i) {
    p = i * p / n;
    if (std::fabs(p) < em128) {
      p *= ep128;
      expnt -= 128;
    }
  }
  if (expnt != 0) p = std::ldexp(p, expnt);
  return std::min(1.0, std::max(0.0, static_cast<double>(p)));
}

// Pelz-Good approximation of P(D_n <= x), as scipy's _kolmogn_PelzGood.
double KolmogorovCdfPelzGood(int64_t n, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
  const double sqrt2pi = std::sqrt(2 * M_PI);
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0;
  double q = std::exp(qlog);
  const double k1a = -z2, k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * z6 * z2;
  double K[4] = {0, 0, 0, 0};
  const int maxk = static_cast<int>(std::ceil(16 * z / M_PI));
  for (int k = maxk; k > 0; --k) {
    const double m = 2 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    const double qp = std::pow(q, 8 * k);
    const double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                         k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) K[i] = K[i] * qp + c[i];
  }
  const double div[4] = {z, 6 * z4, 72 * z6 * z, 6480 * z6 * z4};
  for (int i = 0; i < 4; ++i) K[i] = K[i] * q * sqrt2pi / div[i];
  q = std::exp(-pi2 / 2 / z2);
  double k2extra = 0, k3extra = 0;
  const double sqrt3z = std::sqrt(3.0) * z;
  for (int k = maxk; k > 0; --k) {
    const double ks2 = static_cast<double>(k) * k, qp = std::pow(q, ks2), kpi = M_PI * k;
    k2extra += ks2 * qp;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * ks2 * qp;
  }
  K[2] += k2extra * pi2 * sqrt2pi / (-36 * z3);
  K[3] += k3extra * pi2 * sqrt2pi / (216 * z6);
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += K[i] / std::pow(static_cast<double>(n), i / 2.0);
  return sum;
}

// Walks the distinct values v of two sorted samples in merged order and calls
// fn(v, |F_a(v) - F_b(v)|) with both empirical CDFs taken after every copy of v
// (searchsorted side='right', as scipy): the one merge walk behind KS and
// Wasserstein.
template <typename Fn>
void ForEachDistinct(const std::vector<float>& a, const std::vector<float>& b, Fn fn) {
  const size_t n1 = a.size(), n2 = b.size();
  size_t i = 0, j = 0;
  while (i < n1 || j < n2) {
    const float v = (j >= n2 || (i < n1 && a[i] <= b[j])) ? a[i] : b[j];
    while (i < n1 && a[i] <= v) ++i;
    while (j < n2 && b[j] <= v) ++j;
    fn(static_cast<double>(v), std::fabs(static_cast<double>(i) / n1 - static_cast<double>(j) / n2));
  }
}

double LogNFactorialDivNPowN(double n) {
  return std::lgamma(n + 1) - n * std::log(n);
}

// scipy's _compute_prob_outside_square: equal sample sizes, exact.
double ProbOutsideSquare(int64_t n, int64_t h) {
  double P = 0;
  int64_t k = n / h;
  while (k >= 0) {
    double p1 = 1;
    for (int64_t j = 0; j < h; ++j) p1 = (n - k * h - j) * p1 / (n + k * h + j + 1);
    P = p1 * (1 - P);
    --k;
  }
  return 2 * P;
}

}  // namespace

double KolmogorovSf(int64_t n, double x) {
  if (n <= 0) return NAN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const double dn = static_cast<double>(n);
  const double t = dn * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    const double cdf = n <= 140 ? [&] {
      double p = 1;
      for (int64_t i = 1; i <= n; ++i) p *= i / dn * (2 * t - 1);
      return p;
    }()
                                : std::exp(LogNFactorialDivNPowN(dn) + dn * std::log(2 * t - 1));
    return std::min(1.0, std::max(0.0, 1 - cdf));
  }
  if (t >= dn - 1) return std::min(1.0, 2 * std::pow(1 - x, dn));
  if (x >= 0.5) return std::min(1.0, 2 * Smirnov(n, x));
  const double nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 4) return std::min(1.0, std::max(0.0, 1 - KolmogorovCdfDurbin(n, x)));
    return std::min(1.0, 2 * Smirnov(n, x));
  }
  if (nx2 >= 370) return 0;
  if (nx2 >= 2.2) return std::min(1.0, 2 * Smirnov(n, x));
  double cdf;
  if (nx2 >= 18) {
    cdf = 1;
  } else if (n <= 100000 && dn * std::pow(x, 1.5) <= 1.4) {
    cdf = KolmogorovCdfDurbin(n, x);
  } else {
    cdf = KolmogorovCdfPelzGood(n, x);
  }
  return std::min(1.0, std::max(0.0, 1 - cdf));
}

KsResult KsTwoSample(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n1 = a.size(), n2 = b.size();
  double d = 0;
  ForEachDistinct(a, b, [&](double, double gap) { d = std::max(d, gap); });
  KsResult r;
  r.statistic = d;
  const int64_t g = std::__gcd(static_cast<int64_t>(n1), static_cast<int64_t>(n2));
  if (n1 == n2 && n1 <= 10000) {
    const int64_t lcm = static_cast<int64_t>(n1 / g) * static_cast<int64_t>(n2);
    const int64_t h = std::llround(d * lcm);
    r.pvalue = h == 0 ? 1.0 : std::min(1.0, std::max(0.0, ProbOutsideSquare(static_cast<int64_t>(n1), h)));
    return r;
  }
  const double m = std::max(n1, n2), n = std::min(n1, n2);
  const double en = m * n / (m + n);
  r.pvalue = KolmogorovSf(std::llround(en), d);
  return r;
}

double WassersteinSorted(const std::vector<float>& a, const std::vector<float>& b) {
  // integral of |F_a - F_b| over the merged support, as scipy's _cdf_distance(1):
  // each gap holds from one distinct value to the next.
  double total = 0, prev_v = 0, prev_gap = 0;
  bool first = true;
  ForEachDistinct(a, b, [&](double v, double gap) {
    if (!first) total += prev_gap * (v - prev_v);
    first = false;
    prev_v = v;
    prev_gap = gap;
  });
  return total;
}

double Psi(const std::vector<double>& ref, const std::vector<double>& cur) {
  double rs = 0, cs = 0;
  for (double v : ref) rs += v;
  for (double v : cur) cs += v;
  double psi = 0;
  for (size_t k = 0; k < ref.size(); ++k) {
    const double r = std::max(rs > 0 ? ref[k] / rs : 0.0, kPsiFloor);
    const double c = std::max(cs > 0 ? cur[k] / cs : 0.0, kPsiFloor);
    psi += (c - r) * std::log(c / r);
  }
  return psi;
}

double JensenShannon(const std::vector<double>& p_in, const std::vector<double>& q_in) {
  double ps = 0, qs = 0;
  for (double v : p_in) ps += v;
  for (double v : q_in) qs += v;
  double js = 0;
  for (size_t k = 0; k < p_in.size(); ++k) {
    const double p = p_in[k] / ps, q = q_in[k] / qs, m = (p + q) / 2;
    if (p > 0) js += p * std::log(p / m);
    if (q > 0) js += q * std::log(q / m);
  }
  return std::sqrt(std::max(0.0, js / 2));
}

double JensenShannonCorrected(const std::vector<double>& p, const std::vector<double>& q) {
  double n1 = 0, n2 = 0;
  int k = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    n1 += p[i];
    n2 += q[i];
    k += (p[i] + q[i]) > 0;
  }
  if (n1 <= 0 || n2 <= 0) return 0;
  const double js = JensenShannon(p, q);
  const double bias = (k - 1) / (8.0 * (n1 * n2 / (n1 + n2)));
  return std::sqrt(std::max(0.0, js * js - bias));
}

double GammaQ(double a, double x) {
  if (x <= 0) return 1;
  const double gln = std::lgamma(a);
  if (x < a + 1) {  // series for P, Q = 1 - P
    double ap = a, sum = 1 / a, del = sum;
    for (int n = 0; n < 10000; ++n) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (std::fabs(del) < std::fabs(sum) * 1e-16) break;
    }
    return std::max(0.0, 1 - sum * std::exp(-x + a * std::log(x) - gln));
  }
  // continued fraction (modified Lentz) for Q
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - gln) * h;
}

ChiSquareResult ChiSquare(const std::vector<double>& observed, const std::vector<double>& ref_counts) {
  double os = 0, rs = 0;
  for (double v : observed) os += v;
  for (double v : ref_counts) rs += v;
  ChiSquareResult r;
  int used = 0;
  for (size_t k = 0; k < observed.size(); ++k) {
    const double e = ref_counts[k] / rs * os;
    if (e <= 0) continue;
    r.statistic += (observed[k] - e) * (observed[k] - e) / e;
    ++used;
  }
  r.pvalue = used > 1 ? GammaQ((used - 1) / 2.0, r.statistic / 2) : 1.0;
  return r;
}

void RadixSortFloats(std::vector<float>* v) {
  const size_t n = v->size();
  if (n < 2) return;
  // Order-preserving map: flip all bits of negatives, the sign bit of the rest.
  std::vector<uint32_t> keys(n), tmp(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &(*v)[i], 4);
    keys[i] = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  }
  for (int shift = 0; shift < 32; shift += 11) {
    size_t count[2048] = {0};
    for (uint32_t k : keys) ++count[(k >> shift) & 2047];
    size_t sum = 0;
    for (size_t& c : count) {
      const size_t c0 = c;
      c = sum;
      sum += c0;
    }
    for (uint32_t k : keys) tmp[count[(k >> shift) & 2047]++] = k;
    keys.swap(tmp);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = keys[i];
    const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    std::memcpy(&(*v)[i], &u, 4);
  }
}

double QuantileSorted(const std::vector<float>& s, double q) {
  if (s.empty()) return NAN;
  const double pos = q * (s.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (pos - lo) * (static_cast<double>(s[hi]) - s[lo]);
}

std::vector<double> CountsInBins(const std::vector<float>& sorted, const std::vector<double>& edges) {
  std::vector<double> c(edges.size() + 1, 0.0);
  size_t start = 0;
  for (size_t k = 0; k < edges.size(); ++k) {
    // values <= edges[k]
    size_t end = std::upper_bound(sorted.begin() + start, sorted.end(), edges[k],
                                  [](double e, float v) { return e < v; }) -
                 sorted.begin();
    c[k] = static_cast<double>(end - start);
    start = end;
  }
  c[edges.size()] = static_cast<double>(sorted.size() - start);
  return c;
}

double BinomialSf(int64_t k, int64_t n, double p) {
  if (k <= 0) return 1.0;
  if (k > n) return 0.0;
  if (p <= 0) return 0.0;
  if (p >= 1) return 1.0;
  if (n > 10000) {
    const double sd = std::sqrt(n * p * (1 - p));
    return 0.5 * std::erfc((k - 0.5 - n * p) / sd / std::sqrt(2.0));
  }
  const double lp = std::log(p), lq = std::log1p(-p), ln = std::lgamma(n + 1.0);
  double sum = 0;
  for (int64_t i = k; i <= n; ++i)
    sum += std::exp(ln - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) + i * lp + (n - i) * lq);
  return std::min(1.0, sum);
}

}  // namespace driftrun
