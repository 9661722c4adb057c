// Random test data for the kernels: normal values with a given share of NaN,
// some +-Inf, plus a constant column and an all-missing column.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace driftrun {

inline std::vector<float> SpecialData(int64_t rows, int64_t cols, uint64_t seed, double nan_share = 0.05) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      float v = 3.0f * j + (1.0f + j) * normal(rng);
      if (u(rng) < nan_share) v = std::numeric_limits<float>::quiet_NaN();
      if (u(rng) < 0.001) v = (u(rng) < 0.5 ? -1 : 1) * std::numeric_limits<float>::infinity();
      if (cols > 2 && j == cols - 2) v = 7.5f;                                     // constant
      if (cols > 2 && j == cols - 1) v = std::numeric_limits<float>::quiet_NaN();  // all missing
      x[i * cols + j] = v;
    }
  }
  return x;
}

inline at::Tensor AsTensor(std::vector<float>& x, int64_t rows, int64_t cols) {
  return at::from_blob(x.data(), {rows, cols}, at::kFloat);
}

inline bool HaveCuda() {
  return at::hasCUDA() && at::globalContext().hasCUDA();
}

}  // namespace driftrun
