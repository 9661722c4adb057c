// Typed collectives over threads as ranks (ThreadCommunicator): how one rank's
// failure reaches all, and the typed helpers' results on 1 to 4 ranks.
#include "comm/collectives.h"

#include <gtest/gtest.h>

#include <mutex>

#include "comm/local_communicator.h"
#include "tests/comm/thread_communicator.h"

namespace driftrun {
namespace {

TEST(Collectives, OneFailingRankStopsAllWithItsCode) {
  std::vector<Status> got(3);
  RunRanks(3, [&](ThreadCommunicator& c) {
    Status local = c.rank() == 1 ? Status::Data("rank 1's file is bad") : Status::Ok();
    got[c.rank()] = AgreeStatus(c, local);
  });
  EXPECT_EQ(got[1].code(), Code::kData);
  EXPECT_EQ(got[1].message(), "rank 1's file is bad");
  for (int r : {0, 2}) {
    EXPECT_EQ(got[r].code(), Code::kData) << r;
    EXPECT_EQ(got[r].message(), "") << r;  // printed once, by the rank that saw it
  }
}

TEST(Collectives, HighestCodeReachesTheRanksWithoutAnError) {
  std::vector<Status> got(3);
  RunRanks(3, [&](ThreadCommunicator& c) {
    Status local = c.rank() == 0 ? Status::Usage("a") : c.rank() == 1 ? Status::Infra("b") : Status::Ok();
    got[c.rank()] = AgreeStatus(c, local);
  });
  EXPECT_EQ(got[0].code(), Code::kUsage);  // keeps its own failure
  EXPECT_EQ(got[1].code(), Code::kInfra);
  EXPECT_EQ(got[2].code(), Code::kInfra);
  std::vector<Status> ok(2);
  RunRanks(2, [&](ThreadCommunicator& c) { ok[c.rank()] = AgreeStatus(c, Status::Ok()); });
  EXPECT_TRUE(ok[0].ok() && ok[1].ok());
}

TEST(Collectives, DedupeKeepsTheLowestRankWithAMessage) {
  std::vector<Status> got(4);
  RunRanks(4, [&](ThreadCommunicator& c) {
    Status st =
        c.rank() >= 2 ? Status::Training("NaN on rank " + std::to_string(c.rank())) : Status::Training("");
    got[c.rank()] = DedupeStatus(c, st);
  });
  EXPECT_EQ(got[2].message(), "NaN on rank 2");
  for (int r : {0, 1, 3}) {
    EXPECT_EQ(got[r].code(), Code::kTraining);
    EXPECT_EQ(got[r].message(), "") << r;
  }
}

TEST(Collectives, AllReduceDoublesSumsMaxesAndMins) {
  for (int world : {1, 2, 4}) {
    std::mutex mu;
    std::vector<std::vector<double>> got(world);
    RunRanks(world, [&](ThreadCommunicator& c) {
      const double r = c.rank();
      std::vector<double> sum = {r + 0.5, -r}, mx = {r, -r}, mn = {r, -r};
      ASSERT_TRUE(AllReduceDoubles(c, &sum).ok());
      ASSERT_TRUE(AllReduceDoubles(c, &mx, ReduceOp::kMax).ok());
      ASSERT_TRUE(AllReduceDoubles(c, &mn, ReduceOp::kMin).ok());
      std::lock_guard<std::mutex> lock(mu);
      got[c.rank()] = {sum[0], sum[1], mx[0], mx[1], mn[0], mn[1]};
    });
    // By hand: sum of r + 0.5 over r < W is W(W-1)/2 + W/2.
    const double w = world;
    const std::vector<double> want = {w * (w - 1) / 2 + w / 2, -w * (w - 1) / 2, w - 1, 0, 0, -(w - 1)};
    for (int r = 0; r < world; ++r) EXPECT_EQ(got[r], want) << "world " << world << " rank " << r;
  }
}

TEST(Collectives, BroadcastStringOfAnyLength) {
  for (const std::string& text : {std::string(), std::string("run/a"), std::string(100000, 'x') + "end"}) {
    std::vector<std::string> got(3);
    RunRanks(3, [&](ThreadCommunicator& c) {
      std::string s = c.rank() == 1 ? text : "something else on rank " + std::to_string(c.rank());
      ASSERT_TRUE(BroadcastString(c, &s, 1).ok());
      got[c.rank()] = s;
    });
    for (int r = 0; r < 3; ++r) EXPECT_EQ(got[r], text) << r;
  }
}

TEST(Collectives, LocalCommunicatorIsOneRank) {
  LocalCommunicator one;
  EXPECT_EQ(one.size(), 1);
  std::vector<double> v = {1.5, -2};
  ASSERT_TRUE(AllReduceDoubles(one, &v).ok());
  EXPECT_EQ(v, (std::vector<double>{1.5, -2}));
  std::string s = "kept";
  ASSERT_TRUE(BroadcastString(one, &s).ok());
  EXPECT_EQ(s, "kept");
  EXPECT_EQ(AgreeStatus(one, Status::Data("x")).code(), Code::kData);
}

}  // namespace
}  // namespace driftrun
