#include "kernels/transform.h"

#include <gtest/gtest.h>

#include <random>

#include "kernels/column_stats.h"
#include "tests/kernels/test_data.h"

namespace driftrun {
namespace {

std::vector<kmath::ColumnTransform> Params(const at::Tensor& t, const ColumnTransformOptions& o,
                                           std::vector<std::string>* notes) {
  auto stats = ColumnStats(t).take();
  std::vector<std::string> names;
  for (size_t j = 0; j < stats.size(); ++j) names.push_back("c" + std::to_string(j));
  return MakeTransform(stats, std::vector<double>(stats.size(), NAN),
                       std::vector<ColumnTransformOptions>(stats.size(), o), names, notes);
}

class TransformTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(TransformTest, MatchesDoubleReferenceAndReports) {
  const int64_t rows = GetParam(), cols = 6;
  auto x = SpecialData(rows, cols, 31 + rows);
  at::Tensor t = AsTensor(x, rows, cols);
  ColumnTransformOptions o;
  o.clip_sigma = 2.5;
  std::vector<std::string> notes;
  auto params = Params(t, o, &notes);
  at::Tensor out;
  auto rep = FusedTransform(t, params, false, &out);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  ASSERT_TRUE(at::isfinite(out).all().item<bool>()) << "no NaN or Inf may leave the transform";
  const float* y = out.data_ptr<float>();
  for (int64_t j = 0; j < cols; ++j) {
    int64_t imputed = 0, clipped = 0;
    for (int64_t i = 0; i < rows; ++i) {
      double v = x[i * cols + j];
      if (!std::isfinite(v)) {
        v = params[j].fill;
        ++imputed;
      }
      double z = (v - params[j].shift) * static_cast<double>(params[j].scale);
      if (z < -2.5 || z > 2.5) ++clipped;
      z = std::min(2.5, std::max(-2.5, z));
      ASSERT_NEAR(y[i * cols + j], z, 1e-5 * (1 + std::fabs(z))) << "row " << i << " column " << j;
    }
    EXPECT_EQ(rep.value().imputed[j], imputed) << j;
    EXPECT_EQ(rep.value().clipped[j], clipped) << j;
  }
  bool constant_noted = false, empty_noted = false;
  for (const auto& n : notes) {
    constant_noted |= n.find("c4 is constant") != std::string::npos;
    empty_noted |= n.find("c5 has no values") != std::string::npos;
  }
  EXPECT_TRUE(constant_noted || rows == 1);
  EXPECT_TRUE(empty_noted);
}

INSTANTIATE_TEST_SUITE_P(Rows, TransformTest, ::testing::Values(1, 100, 2049, 1000000));

TEST(Transform, MinMaxConstantImputeAndBf16) {
  std::vector<float> x = {1, NAN, 3, 5, 2, 4};  // 3 rows x 2 columns
  at::Tensor t = AsTensor(x, 3, 2);
  ColumnTransformOptions o;
  o.scale = "minmax";
  o.impute = "constant";
  o.fill_value = 2;
  std::vector<std::string> notes;
  auto p = Params(t, o, &notes);
  at::Tensor out;
  ASSERT_TRUE(FusedTransform(t, p, false, &out).ok());
  // column 0: values 1,3,2 -> (v-1)/2; column 1: NaN->2, 5, 4 -> (v-4)/1
  EXPECT_TRUE(at::allclose(out, at::tensor({0.0f, -2.0f, 1.0f, 1.0f, 0.5f, 0.0f}).reshape({3, 2})));
  at::Tensor half;
  ASSERT_TRUE(FusedTransform(t, p, true, &half).ok());
  EXPECT_EQ(half.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(half, out.to(at::kBFloat16)));
}

TEST(Transform, ParameterCountMustMatch) {
  std::vector<float> x(6, 1.0f);
  at::Tensor out;
  EXPECT_EQ(FusedTransform(AsTensor(x, 3, 2), {}, false, &out).status().code(), Code::kData);
}

TEST(Transform, CudaEqualsCpu) {
  if (!HaveCuda()) GTEST_SKIP() << "no GPU";
  for (int64_t cols : {7, 8})
    for (int64_t rows : {1, 1000, 1000000}) {
      auto x = SpecialData(rows, cols, 13);
      at::Tensor t = AsTensor(x, rows, cols);
      ColumnTransformOptions o;
      o.clip_sigma = 3;
      std::vector<std::string> notes;
      auto p = Params(t, o, &notes);
      at::Tensor a, b, c;
      auto ra = FusedTransform(t, p, false, &a).take();
      auto rb = FusedTransform(t.cuda(), p, false, &b);
      ASSERT_TRUE(rb.ok()) << rb.status().ToString();
      EXPECT_TRUE(at::allclose(a, b.cpu(), 1e-6, 1e-6)) << rows;
      EXPECT_EQ(ra.imputed, rb.value().imputed);
      EXPECT_EQ(ra.clipped, rb.value().clipped);
      ASSERT_TRUE(FusedTransform(t.cuda(), p, true, &c).ok());
      EXPECT_TRUE(at::allclose(a.to(at::kBFloat16).to(at::kFloat), c.cpu().to(at::kFloat), 1e-2, 1e-2))
          << rows;
      if (rows > 1) {  // a view off the 16-byte boundary: the one-element path
        at::Tensor d, e;
        auto rd = FusedTransform(t.narrow(0, 1, rows - 1), p, false, &d).take();
        auto re = FusedTransform(t.cuda().narrow(0, 1, rows - 1), p, false, &e);
        ASSERT_TRUE(re.ok()) << re.status().ToString();
        EXPECT_TRUE(at::allclose(d, e.cpu(), 1e-6, 1e-6)) << "offset view, " << rows << " x " << cols;
        EXPECT_EQ(rd.imputed, re.value().imputed);
        EXPECT_EQ(rd.clipped, re.value().clipped);
      }
    }
}

}  // namespace
}  // namespace driftrun

namespace driftrun {

// Found by a stranger: one value of 3e38 in a column set its scale with no word.
TEST(Transform, OutlierThatSetsTheScaleIsWarnedAbout) {
  std::mt19937 gen(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::lognormal_distribution<double> heavy(0.0, 1.5);
  std::vector<kmath::Moments> stats(3);
  for (int i = 0; i < 4000; ++i) {
    stats[0].Add(static_cast<float>(normal(gen)));
    stats[1].Add(static_cast<float>(i == 7 ? 3e38 : normal(gen)));
    stats[2].Add(static_cast<float>(heavy(gen)));  // a heavy tail is data, not a bad value
  }
  const std::vector<std::string> w = OutlierWarnings(stats, {"plain", "broken", "income"});
  ASSERT_EQ(w.size(), 1u) << (w.empty() ? "" : w[0]);
  EXPECT_EQ(w[0].rfind("column broken: a value of 3e+38", 0), 0u) << w[0];
}

}  // namespace driftrun
