#include "kernels/categorical.h"

#include <gtest/gtest.h>

#include "kernels/histogram.h"
#include "tests/kernels/test_data.h"

namespace driftrun {
namespace {

at::Tensor RandomValues(int64_t rows, int64_t cols, int64_t hi) {
  at::manual_seed(5);
  return at::randint(-hi, hi, {rows, cols}, at::kLong);
}

TEST(Categorical, HashIsDeterministicInRangeAndSpread) {
  at::Tensor v = RandomValues(100000, 3, 1000000);
  auto a = HashCategories(v, 64).take();
  EXPECT_TRUE(at::equal(a, HashCategories(v, 64).take()));
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), 64);
  auto counts = CategoryCounts(a, 64).take();
  // 100000 / 64 = 1562.5 per bucket; a fair hash stays well within +-20%.
  EXPECT_GT(counts.min().item<int64_t>(), 1250);
  EXPECT_LT(counts.max().item<int64_t>(), 1875);
  // Equal values in different columns hash independently.
  at::Tensor same = at::full({1, 3}, 42, at::kLong);
  auto h = HashCategories(same, 1 << 20).take();
  EXPECT_NE(h[0][0].item<int64_t>(), h[0][1].item<int64_t>());
}

// Pinned values, computed independently in Python (splitmix64 finalizer of
// value ^ (0x9e3779b97f4a7c15 * (column + 1)), modulo the bucket count):
//   M = 2**64 - 1
//   def mix(z): z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
//               z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M; return z ^ (z >> 31)
//   bucket = mix((v & M) ^ ((0x9e3779b97f4a7c15 * (c + 1)) & M)) % b
// A change of the hash changes every stored model's buckets, so it must fail here.
TEST(Categorical, HashMatchesPinnedValues) {
  at::Tensor v = at::tensor({0, 0, 0, 1, 1, 1, 42, 42, 42, -1, -1, -1, 123456789, 123456789, 123456789,
                             -1000000, -1000000, -1000000},
                            at::kLong)
                     .reshape({6, 3});
  at::Tensor want97 =
      at::tensor({49, 18, 28, 52, 44, 44, 42, 77, 1, 57, 19, 10, 8, 78, 11, 45, 44, 92}, at::kLong)
          .reshape({6, 3});
  at::Tensor want20 = at::tensor({904623, 615924, 607567, 338976, 978023, 164329, 749205, 372144, 1013219,
                                  24772, 223231, 204668, 797166, 475071, 326901, 216635, 215917, 423428},
                                 at::kLong)
                          .reshape({6, 3});
  auto h97 = HashCategories(v, 97).take();
  auto h20 = HashCategories(v, 1 << 20).take();
  EXPECT_TRUE(at::equal(h97, want97)) << h97;
  EXPECT_TRUE(at::equal(h20, want20)) << h20;
}

TEST(Categorical, VocabularyWithUnseenBucket) {
  at::Tensor vocab = at::tensor({-5, 3, 10, 0, 7, 8, 0, 0}, at::kLong).reshape({2, 4});
  at::Tensor sizes = at::tensor({3, 2}, at::kLong);
  at::Tensor v = at::tensor({3, 8, 10, 7, 4, 9, -5, 0}, at::kLong).reshape({4, 2});
  auto idx = VocabIndices(v, vocab, sizes).take();
  // column 0 vocab {-5,3,10}, unseen -> 3; column 1 vocab {7,8}, unseen -> 2
  EXPECT_TRUE(at::equal(idx, at::tensor({1, 1, 2, 0, 3, 2, 0, 2}, at::kLong).reshape({4, 2})));
  EXPECT_EQ(VocabIndices(v, vocab, at::tensor({5, 2}, at::kLong)).status().code(), Code::kData);
}

TEST(Categorical, CudaEqualsCpu) {
  if (!HaveCuda()) GTEST_SKIP() << "no GPU";
  at::Tensor v = RandomValues(1000000, 4, 50);
  auto cpu = HashCategories(v, 97).take();
  auto gpu = HashCategories(v.cuda(), 97);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  EXPECT_TRUE(at::equal(cpu, gpu.value().cpu()));
  at::Tensor vocab = std::get<0>(at::sort(at::arange(-50, 50, 2, at::kLong))).repeat({4, 1});
  at::Tensor sizes = at::full({4}, vocab.size(1), at::kLong);
  auto vc = VocabIndices(v, vocab, sizes).take();
  auto vg = VocabIndices(v.cuda(), vocab, sizes);
  ASSERT_TRUE(vg.ok());
  EXPECT_TRUE(at::equal(vc, vg.value().cpu()));
}

}  // namespace
}  // namespace driftrun
