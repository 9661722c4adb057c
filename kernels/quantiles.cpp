#include "kernels/quantiles.h"

#include <ATen/ATen.h>

#include <cmath>

namespace driftrun {

at::Tensor FineEdges(const std::vector<kmath::Moments>& stats, int bins) {
  const int64_t cols = static_cast<int64_t>(stats.size());
  at::Tensor e = at::zeros({cols, bins + 1}, at::kFloat);
  float* p = e.data_ptr<float>();
  for (int64_t j = 0; j < cols; ++j) {
    if (stats[j].n == 0) continue;
    const double lo = stats[j].min, hi = stats[j].max;
    for (int k = 0; k <= bins; ++k) {
      p[j * (bins + 1) + k] = static_cast<float>(k == bins ? hi : lo + (hi - lo) * k / bins);
    }
  }
  return e;
}

std::vector<std::vector<double>> QuantilesFromCounts(const at::Tensor& counts_in, const at::Tensor& edges_in,
                                                     const std::vector<double>& probs) {
  at::Tensor counts = counts_in.cpu().contiguous(), edges = edges_in.cpu().contiguous();
  const int64_t cols = counts.size(0), nedges = edges.size(1);
  const int64_t* c = counts.data_ptr<int64_t>();
  const float* e = edges.data_ptr<float>();
  std::vector<std::vector<double>> out(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) {
    const int64_t* cj = c + j * (nedges + 2);
    const float* ej = e + j * nedges;
    int64_t n = 0;
    for (int64_t k = 0; k <= nedges; ++k) n += cj[k];  // every slot but "missing"
    // Estimated value of the r-th smallest (0-based) finite value: within the
    // bin that holds it, the `in` values of a bin spread evenly over it.
    auto order_stat = [&](int64_t r) {
      int64_t before = 0;
      for (int64_t k = 0; k <= nedges; ++k) {
        const int64_t in = cj[k];
        if (in > 0 && r < before + in) {
          if (k == 0) return static_cast<double>(ej[0]);
          if (k == nedges) return static_cast<double>(ej[nedges - 1]);
          const double frac = static_cast<double>(r - before + 1) / in;
          return ej[k - 1] + (static_cast<double>(ej[k]) - ej[k - 1]) * frac;
        }
        before += in;
      }
      return static_cast<double>(ej[nedges - 1]);
    };
    for (double q : probs) {
      if (n == 0) {
        out[j].push_back(NAN);
        continue;
      }
      // numpy's linear rule between the order statistics around rank q (n - 1).
      const double target = q * (n - 1);
      const int64_t lo = static_cast<int64_t>(std::floor(target));
      const int64_t hi = std::min(lo + 1, n - 1);
      const double a = order_stat(lo), b = order_stat(hi);
      out[j].push_back(a + (target - lo) * (b - a));
    }
  }
  return out;
}

}  // namespace driftrun
