#include "trainers/bucketing.h"

#include <gtest/gtest.h>

namespace driftrun {
namespace {

using Buckets = std::vector<std::vector<size_t>>;

TEST(Bucketing, ReverseOrderAndCap) {
  // params 0..4 with sizes; backward produces 4 first.
  EXPECT_EQ(AssignBuckets({10, 10, 10, 10, 10}, 20), (Buckets{{4, 3}, {2, 1}, {0}}));
}

TEST(Bucketing, OneBucketWhenCapIsLarge) {
  EXPECT_EQ(AssignBuckets({4, 8, 16}, 1 << 20), (Buckets{{2, 1, 0}}));
}

TEST(Bucketing, LargeParameterGetsItsOwnBucket) {
  // Parameter 1 (100 bytes) is over the 10-byte cap: the small bucket before it
  // is closed, it gets its own, and the next one starts fresh.
  EXPECT_EQ(AssignBuckets({1, 100, 1}, 10), (Buckets{{2}, {1}, {0}}));
  EXPECT_EQ(AssignBuckets({3, 3, 50, 3, 3}, 10), (Buckets{{4, 3}, {2}, {1, 0}}));
  // Exactly the cap counts as large; a first parameter over the cap has nothing to close.
  EXPECT_EQ(AssignBuckets({4, 10, 10}, 10), (Buckets{{2}, {1}, {0}}));
}

TEST(Bucketing, EveryParameterExactlyOnce) {
  std::vector<size_t> bytes;
  for (size_t i = 0; i < 37; ++i) bytes.push_back((i * 7919) % 101 + 1);
  auto b = AssignBuckets(bytes, 64);
  std::vector<int> seen(37, 0);
  for (const auto& bucket : b) {
    for (size_t p : bucket) seen[p]++;
  }
  for (int s : seen) EXPECT_EQ(s, 1);
  EXPECT_TRUE(AssignBuckets({}, 64).empty());
}

}  // namespace
}  // namespace driftrun
