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
    for (double q : probs) {
      if (n == 0) {
        out[j].push_back(NAN);
        continue;
      }
      const double target = q * (n - 1);  // 0-based rank
      // Slot 0 holds the values equal to the minimum (v <= e_0).
      double before = 0;
      double value = ej[nedges - 1];
      for (int64_t k = 0; k <= nedges; ++k) {
        const double in = static_cast<double>(cj[k]);
        if (in > 0 && target < before + in) {
          if (k == 0) {
            value = ej[0];
          } else if (k == nedges) {
            value = ej[nedges - 1];
          } else {
            // in values spread evenly over (e_{k-1}, e_k]: the i-th (0-based) at
            // e_{k-1} + (i + 1) / in * width.
            const double frac = (target - before + 1) / in;
            value = ej[k - 1] + (ej[k] - ej[k - 1]) * std::min(1.0, frac);
          }
          break;
        }
        before += in;
      }
      out[j].push_back(value);
    }
  }
  return out;
}

}  // namespace driftrun
