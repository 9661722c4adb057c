#include "kernels/column_stats.h"

#include <gtest/gtest.h>

#include "tests/kernels/test_data.h"

namespace driftrun {
namespace {

// Double-precision reference: two passes over the finite values.
kmath::Moments Reference(const std::vector<float>& x, int64_t rows, int64_t cols, int64_t j) {
  kmath::Moments m;
  double sum = 0;
  for (int64_t i = 0; i < rows; ++i) {
    float v = x[i * cols + j];
    if (std::isnan(v)) continue;
    if (std::isinf(v)) {
      m.nonfinite++;
      continue;
    }
    m.n++;
    sum += v;
    m.min = std::min<double>(m.min, v);
    m.max = std::max<double>(m.max, v);
  }
  if (m.n == 0) return m;
  m.mean = sum / m.n;
  for (int64_t i = 0; i < rows; ++i) {
    float v = x[i * cols + j];
    if (std::isfinite(v)) m.m2 += (v - m.mean) * (v - m.mean);
  }
  return m;
}

void ExpectNear(const kmath::Moments& got, const kmath::Moments& want, const std::string& where) {
  EXPECT_EQ(got.n, want.n) << where;
  EXPECT_EQ(got.nonfinite, want.nonfinite) << where;
  if (want.n == 0) return;
  EXPECT_NEAR(got.mean, want.mean, 1e-12 * (1 + std::fabs(want.mean))) << where;
  EXPECT_NEAR(got.m2, want.m2, 1e-10 * (1 + want.m2)) << where;
  EXPECT_EQ(got.min, want.min) << where;
  EXPECT_EQ(got.max, want.max) << where;
}

class ColumnStatsTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(ColumnStatsTest, MatchesDoubleReference) {
  const int64_t rows = GetParam(), cols = 6;
  auto x = SpecialData(rows, cols, 11 + rows);
  auto got = ColumnStats(AsTensor(x, rows, cols));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  for (int64_t j = 0; j < cols; ++j) {
    ExpectNear(got.value()[j], Reference(x, rows, cols, j), "column " + std::to_string(j));
  }
  // constant column: zero spread; all-missing column: nothing counted
  if (rows > 1) EXPECT_EQ(got.value()[cols - 2].m2, 0.0);
  EXPECT_EQ(got.value()[cols - 1].n, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Rows, ColumnStatsTest, ::testing::Values(1, 7, 1023, 1025, 100000, 1000000));

TEST(ColumnStats, BlockMergeEqualsWholeAndSplitsMergeExactly) {
  const int64_t rows = 5000, cols = 4;
  auto x = SpecialData(rows, cols, 3);
  auto whole = ColumnStatsCpu(x.data(), rows, cols);
  auto a = ColumnStatsCpu(x.data(), 1234, cols);
  auto b = ColumnStatsCpu(x.data() + 1234 * cols, rows - 1234, cols);
  for (int64_t j = 0; j < cols; ++j) {
    a[j].Merge(b[j]);
    ExpectNear(a[j], whole[j], "split column " + std::to_string(j));
  }
}

TEST(ColumnStats, RejectsWrongShapes) {
  EXPECT_EQ(ColumnStats(at::zeros({3}, at::kFloat)).status().code(), Code::kData);
  EXPECT_EQ(ColumnStats(at::zeros({3, 2}, at::kDouble)).status().code(), Code::kData);
}

TEST(ColumnStats, CudaEqualsCpu) {
  if (!HaveCuda()) GTEST_SKIP() << "no GPU";
  for (int64_t rows : {1, 1000, 1000000}) {
    auto x = SpecialData(rows, 9, 5);
    at::Tensor t = AsTensor(x, rows, 9);
    auto cpu = ColumnStats(t);
    auto gpu = ColumnStats(t.cuda());
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    for (int j = 0; j < 9; ++j)
      ExpectNear(gpu.value()[j], cpu.value()[j], "cuda column " + std::to_string(j));
  }
}

}  // namespace
}  // namespace driftrun
