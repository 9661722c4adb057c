#include "kernels/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/column_stats.h"
#include "kernels/quantiles.h"
#include "tests/kernels/test_data.h"

namespace driftrun {
namespace {

at::Tensor EdgesFor(int64_t cols, int64_t n) {
  at::Tensor e = at::empty({cols, n}, at::kFloat);
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t k = 0; k < n; ++k)
      e[j][k] = static_cast<float>(3.0 * j + (1.0 + j) * (-2.0 + 4.0 * k / (n - 1)));
  }
  return e;
}

// Reference with std::lower_bound (first edge >= v), as numpy.searchsorted(side="left").
std::vector<int64_t> Reference(const std::vector<float>& x, int64_t rows, int64_t cols,
                               const at::Tensor& edges) {
  const int64_t n = edges.size(1);
  std::vector<int64_t> c(static_cast<size_t>(cols * (n + 2)), 0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      float v = x[i * cols + j];
      const float* e = edges.data_ptr<float>() + j * n;
      int64_t slot = std::isfinite(v) ? std::lower_bound(e, e + n, v) - e : n + 1;
      c[j * (n + 2) + slot]++;
    }
  }
  return c;
}

class HistogramTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(HistogramTest, MatchesReference) {
  const int64_t rows = GetParam(), cols = 5;
  auto x = SpecialData(rows, cols, 21 + rows);
  at::Tensor edges = EdgesFor(cols, 11);
  auto got = Histograms(AsTensor(x, rows, cols), edges);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto want = Reference(x, rows, cols, edges);
  ASSERT_EQ(got.value().numel(), static_cast<int64_t>(want.size()));
  EXPECT_TRUE(std::equal(want.begin(), want.end(), got.value().data_ptr<int64_t>()));
  EXPECT_EQ(got.value().sum().item<int64_t>(), rows * cols);
}

INSTANTIATE_TEST_SUITE_P(Rows, HistogramTest, ::testing::Values(1, 100, 4097, 1000000));

TEST(Histogram, EdgeValuesGoToTheLowerBin) {
  std::vector<float> x = {1.0f, 2.0f, 0.5f, 3.5f};
  at::Tensor edges = at::tensor({1.0f, 2.0f, 3.0f}).reshape({1, 3});
  auto got = Histograms(AsTensor(x, 4, 1), edges).take();
  // slots: <=1, (1,2], (2,3], >3, missing
  EXPECT_TRUE(at::equal(got, at::tensor({2, 1, 0, 1, 0}, at::kLong).reshape({1, 5})));
}

TEST(Histogram, CategoryCounts) {
  at::Tensor idx = at::tensor({0, 2, 1, 2, 1, 2}, at::kLong).reshape({3, 2});
  auto c = CategoryCounts(idx, 3).take();
  // column 0 holds 0, 1, 1; column 1 holds 2, 2, 2
  EXPECT_TRUE(at::equal(c, at::tensor({1, 2, 0, 0, 0, 3}, at::kLong).reshape({2, 3})));
  EXPECT_EQ(CategoryCounts(idx, 2).status().code(), Code::kData);
}

TEST(Quantiles, WithinOneFineBinOfExact) {
  const int64_t rows = 20001, cols = 4;
  auto x = SpecialData(rows, cols, 8, 0.1);
  at::Tensor t = AsTensor(x, rows, cols);
  auto stats = ColumnStats(t).take();
  at::Tensor edges = FineEdges(stats);
  auto counts = Histograms(t, edges).take();
  std::vector<double> probs = {0.0, 0.1, 0.5, 0.9, 1.0};
  auto q = QuantilesFromCounts(counts, edges, probs);
  for (int64_t j = 0; j < cols - 1; ++j) {
    std::vector<double> v;
    for (int64_t i = 0; i < rows; ++i) {
      if (std::isfinite(x[i * cols + j])) v.push_back(x[i * cols + j]);
    }
    std::sort(v.begin(), v.end());
    const double width = (stats[j].max - stats[j].min) / kFineBins;
    for (size_t k = 0; k < probs.size(); ++k) {
      double pos = probs[k] * (v.size() - 1);
      size_t lo = static_cast<size_t>(pos);
      double exact = v[lo] + (lo + 1 < v.size() ? (pos - lo) * (v[lo + 1] - v[lo]) : 0);
      EXPECT_NEAR(q[j][k], exact, width + 1e-6) << "column " << j << " q " << probs[k];
    }
  }
  EXPECT_TRUE(std::isnan(q[cols - 1][2]));  // all-missing column
}

TEST(Histogram, CudaEqualsCpu) {
  if (!HaveCuda()) GTEST_SKIP() << "no GPU";
  // Columns that do and do not divide the 4-element vectors, and a view that
  // starts off the 16-byte boundary (the one-element path).
  for (int64_t cols : {7, 8, 32}) {
    for (int64_t rows : {1, 1000, 1000000}) {
      auto x = SpecialData(rows, cols, 9);
      at::Tensor t = AsTensor(x, rows, cols), edges = EdgesFor(cols, 33);
      auto cpu = Histograms(t, edges).take();
      auto gpu = Histograms(t.cuda(), edges);
      ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
      EXPECT_TRUE(at::equal(cpu, gpu.value())) << rows << " x " << cols;
      at::Tensor wide = EdgesFor(cols, 4000);  // global-memory path
      EXPECT_TRUE(at::equal(Histograms(t, wide).take(), Histograms(t.cuda(), wide).take())) << rows;
      if (rows > 1) {
        at::Tensor g = t.cuda().narrow(0, 1, rows - 1);
        EXPECT_TRUE(
            at::equal(Histograms(t.narrow(0, 1, rows - 1), edges).take(), Histograms(g, edges).take()))
            << "offset view, " << rows << " x " << cols;
      }
    }
  }
}

}  // namespace
}  // namespace driftrun
