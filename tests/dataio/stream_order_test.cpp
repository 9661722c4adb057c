#include "dataio/stream_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace driftrun {
namespace {

std::vector<int64_t> Whole(const EpochWindows& ew) {
  std::vector<int64_t> all;
  for (int64_t w = 0; w < ew.windows(); ++w) {
    auto o = ew.Order(w);
    EXPECT_EQ(static_cast<int64_t>(o.size()), ew.begin(w + 1) - ew.begin(w)) << "window " << w;
    all.insert(all.end(), o.begin(), o.end());
  }
  return all;
}

TEST(StreamOrder, EachEpochVisitsEveryRowOnceInWindowsOfWholeChunks) {
  const StreamOrder so{10, 3};  // 103 rows: 11 chunks (the last of 3 rows), 4 windows
  EpochWindows ew(103, so, 7, 2, true);
  EXPECT_EQ(ew.windows(), 4);
  std::vector<int64_t> all = Whole(ew);
  ASSERT_EQ(all.size(), 103u);
  std::vector<int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 103; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_FALSE(std::is_sorted(all.begin(), all.end())) << "shuffled";
  // A window's rows are exactly its chunks' rows.
  for (int64_t w = 0; w < ew.windows(); ++w) {
    for (int64_t r : ew.Order(w)) {
      auto chunks = ew.Chunks(w);
      EXPECT_NE(std::find(chunks.begin(), chunks.end(), r / 10), chunks.end())
          << "row " << r << " window " << w;
    }
    for (int64_t pos = ew.begin(w); pos < ew.begin(w + 1); ++pos) EXPECT_EQ(ew.WindowOf(pos), w);
  }
}

TEST(StreamOrder, APureFunctionOfSeedAndEpoch) {
  const StreamOrder so{16, 2};
  EXPECT_EQ(Whole(EpochWindows(500, so, 3, 1, true)), Whole(EpochWindows(500, so, 3, 1, true)));
  EXPECT_NE(Whole(EpochWindows(500, so, 3, 1, true)), Whole(EpochWindows(500, so, 3, 2, true)));
  EXPECT_NE(Whole(EpochWindows(500, so, 3, 1, true)), Whole(EpochWindows(500, so, 4, 1, true)));
}

TEST(StreamOrder, WithoutShuffleTheRowsStayInOrder) {
  std::vector<int64_t> want(77);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(Whole(EpochWindows(77, StreamOrder{8, 3}, 1, 5, false)), want);
}

TEST(StreamOrder, TheBudgetSetsTheWindowNeverBelowOneChunk) {
  // 64 MB, 128-byte rows, 4096-row chunks: a third of the budget is 42 chunks.
  EXPECT_EQ(StreamOrderFor(64, 128, 4096).window_chunks, 42);
  EXPECT_EQ(StreamOrderFor(0.001, 128, 4096).window_chunks, 1);
  EXPECT_EQ(StreamOrderFor(64, 128, 4096).chunk_rows, 4096);
}

}  // namespace
}  // namespace driftrun
