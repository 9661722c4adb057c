#include "dataio/sharding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace driftrun {
namespace {

TEST(Sharding, PermutationIsAPermutationAndDeterministic) {
  auto a = Permutation(1000, 7), b = Permutation(1000, 7), c = Permutation(1000, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_TRUE(Permutation(0, 1).empty());
  EXPECT_EQ(Permutation(1, 1), std::vector<int64_t>{0});
}

TEST(Sharding, PermutationIsRoughlyUniform) {
  // Position of element 0 over many seeds: every slot of 4 about equally often.
  std::vector<int> count(4, 0);
  for (uint64_t s = 0; s < 4000; ++s) {
    auto p = Permutation(4, s);
    count[std::find(p.begin(), p.end(), 0) - p.begin()]++;
  }
  for (int c : count) EXPECT_NEAR(c, 1000, 120);
}

TEST(Sharding, TrainValSplitIsDisjointAndCovers) {
  auto s = SplitTrainVal(10001, 0.1);
  EXPECT_NEAR(static_cast<double>(s.val.size()), 1000.0, 4 * std::sqrt(10001 * 0.1 * 0.9));
  EXPECT_EQ(s.train.size() + s.val.size(), 10001u);
  std::set<int64_t> all(s.train.begin(), s.train.end());
  for (int64_t v : s.val) EXPECT_TRUE(all.insert(v).second);
  EXPECT_EQ(all.size(), 10001u);
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.val.begin(), s.val.end()));
  EXPECT_EQ(SplitTrainVal(10, 0.0).val.size(), 0u);
  EXPECT_EQ(SplitTrainVal(10, 0.01).val.size(), 1u);   // at least one
  EXPECT_EQ(SplitTrainVal(2, 0.99).train.size(), 1u);  // never all
}

TEST(Sharding, TheSplitOfARowDoesNotDependOnTheFileLengthOrAnySeed) {
  // A file that grows keeps its earlier rows on their side: a candidate trained
  // on the longer file never trained on the shorter file's held-out rows.
  auto small = SplitTrainVal(5000, 0.2), grown = SplitTrainVal(8000, 0.2);
  std::set<int64_t> grown_val(grown.val.begin(), grown.val.end());
  for (int64_t v : small.val) EXPECT_TRUE(grown_val.count(v)) << v;
  for (int64_t t : small.train) EXPECT_FALSE(grown_val.count(t)) << t;
}

TEST(Sharding, ContiguousShareCoversWithoutOverlap) {
  for (int world : {1, 2, 3, 7}) {
    int64_t next = 0;
    for (int r = 0; r < world; ++r) {
      auto [b, e] = ContiguousShare(100, r, world);
      EXPECT_EQ(b, next);
      EXPECT_GE(e - b, 100 / world);
      next = e;
    }
    EXPECT_EQ(next, 100);
  }
}

// The union over ranks of each rank's rows of a batch is exactly the global
// batch, for any number of ranks: what makes N-rank training equal 1-rank.
TEST(Sharding, LocalBatchesUnionToTheGlobalBatchForAnyWorld) {
  std::vector<int64_t> train;
  for (int64_t i = 0; i < 500; i += 1) train.push_back(i);
  auto order = EpochOrder(train, 3, 2, true);
  const int64_t B = 48;
  for (int world : {1, 2, 3}) {
    std::vector<std::multiset<int64_t>> got(BatchesPerEpoch(500, B));
    for (int r = 0; r < world; ++r) {
      auto [b, e] = ContiguousShare(500, r, world);
      LocalBatches lb = LocalBatchPositions(order, B, 0, b, e);
      ASSERT_EQ(lb.offsets.size(), got.size() + 1);
      for (size_t k = 0; k + 1 < lb.offsets.size(); ++k) {
        for (int64_t i = lb.offsets[k]; i < lb.offsets[k + 1]; ++i) got[k].insert(lb.positions[i] + b);
      }
    }
    for (size_t k = 0; k < got.size(); ++k) {
      std::multiset<int64_t> want(order.begin() + k * B, order.begin() + (k + 1) * B);
      EXPECT_EQ(got[k], want) << "world " << world << " batch " << k;
    }
  }
}

TEST(Sharding, LocalBatchesFromAMidEpochBatch) {
  std::vector<int64_t> train(100);
  for (int i = 0; i < 100; ++i) train[i] = i;
  auto order = EpochOrder(train, 1, 0, true);
  LocalBatches all = LocalBatchPositions(order, 10, 0, 0, 100);
  LocalBatches tail = LocalBatchPositions(order, 10, 4, 0, 100);
  ASSERT_EQ(tail.offsets.size(), 7u);
  EXPECT_TRUE(std::equal(tail.positions.begin(), tail.positions.end(), all.positions.begin() + 40));
}

TEST(Sharding, EpochOrderDependsOnEpochOnlyWhenShuffling) {
  std::vector<int64_t> train = {2, 3, 5, 7, 11, 13, 17, 19};
  EXPECT_EQ(EpochOrder(train, 1, 0, false), train);
  EXPECT_NE(EpochOrder(train, 1, 0, true), EpochOrder(train, 1, 1, true));
  EXPECT_EQ(EpochOrder(train, 1, 1, true), EpochOrder(train, 1, 1, true));
  EXPECT_EQ(BatchesPerEpoch(100, 30), 3);
  EXPECT_EQ(BatchesPerEpoch(10, 30), 0);
}

}  // namespace
}  // namespace driftrun
