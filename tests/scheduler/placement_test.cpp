// Placement (scheduler/placement.h): all or nothing, one node preferred (best
// fit), spread over the fullest nodes otherwise, ranks back on release.
#include "scheduler/placement.h"

#include <gtest/gtest.h>

namespace driftrun {
namespace {

// Ranks 1..8; 1-3 on node 1, 4-8 on node 4.
Placement TwoNodes() {
  return Placement({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 1, 4, 4, 4, 4, 4});
}

TEST(Placement, AllOrNothing) {
  Placement p = TwoNodes();
  EXPECT_FALSE(p.Take(9));
  EXPECT_FALSE(p.Take(0));
  EXPECT_EQ(p.free(), 8);
  auto a = p.Take(8);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->size(), 8u);
  EXPECT_FALSE(p.Take(1));
  EXPECT_EQ(p.free(), 0);
}

TEST(Placement, BestFitKeepsTheLargeNodeForALargeJob) {
  Placement p = TwoNodes();
  auto a = p.Take(2);  // fits node 1 (3 free) and node 4 (5 free): node 1, the tighter fit
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (std::vector<int>{1, 2}));
  EXPECT_TRUE(p.OneNode(*a));
  auto b = p.Take(5);  // still fits node 4 whole
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (std::vector<int>{4, 5, 6, 7, 8}));
  EXPECT_EQ(p.free(), 1);
}

TEST(Placement, SpreadsOverTheFullestNodesWhenNoNodeFits) {
  Placement p = TwoNodes();
  auto a = p.Take(6);  // no node has 6: node 4's five, then one of node 1
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (std::vector<int>{1, 4, 5, 6, 7, 8}));
  EXPECT_FALSE(p.OneNode(*a));
  EXPECT_EQ(p.free(), 2);
}

TEST(Placement, ReleaseGivesRanksBackOnce) {
  Placement p = TwoNodes();
  auto a = p.Take(3);
  ASSERT_TRUE(a);
  p.Release(*a);
  p.Release(*a);    // twice: no double count
  p.Release({42});  // unknown: ignored
  EXPECT_EQ(p.free(), 8);
  // The same free pool gives the same group (its kept communicator is reused).
  EXPECT_EQ(*p.Take(3), *a);
}

TEST(Placement, ManyRanksManyDecisions) {
  std::vector<int> ranks, nodes;
  for (int r = 1; r <= 10000; ++r) {
    ranks.push_back(r);
    nodes.push_back((r - 1) / 8);
  }
  Placement p(ranks, nodes);
  std::vector<std::vector<int>> held;
  for (int i = 0; i < 1000; ++i) {
    auto g = p.Take(1 + i % 16);
    if (!g) break;
    if (g->size() <= 8) {
      EXPECT_TRUE(p.OneNode(*g)) << "a job of " << g->size() << " was split";
    }
    held.push_back(*g);
  }
  int taken = 0;
  for (const auto& g : held) taken += static_cast<int>(g.size());
  EXPECT_EQ(p.free(), 10000 - taken);
  for (const auto& g : held) p.Release(g);
  EXPECT_EQ(p.free(), 10000);
}

}  // namespace
}  // namespace driftrun
