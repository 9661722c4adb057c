// The epoch order of training rows when a rank streams its shard instead of
// holding it (data.memory_mb): chunk order plus a shuffle buffer, still a pure
// function of (seed, epoch, chunk_rows, window_chunks) and never of the rank
// count, so N ranks train exactly the batches one rank trains and a run
// resumed anywhere continues the same sequence.
//
// The sorted training rows are cut into chunks of `chunk_rows` consecutive
// training rows (the last may be shorter). Each epoch permutes the chunks; the
// permuted chunks, `window_chunks` at a time, form windows, and the rows of a
// window are shuffled among themselves. The epoch's order is the windows one
// after another; global batches are consecutive slices of it as in memory
// (a batch may straddle two windows). Without shuffle the order is the
// training rows as they are. Pure logic, no I/O.
#pragma once

#include <cstdint>
#include <vector>

namespace driftrun {

struct StreamOrder {
  int64_t chunk_rows = 0;     // 0: not streaming (the in-memory order, EpochOrder)
  int64_t window_chunks = 0;  // chunks per shuffle window
  int64_t window_rows() const { return chunk_rows * window_chunks; }
};

class EpochWindows {
 public:
  EpochWindows(int64_t train_rows, StreamOrder so, uint64_t seed, int64_t epoch, bool shuffle);
  int64_t epoch() const { return epoch_; }
  int64_t windows() const { return static_cast<int64_t>(begin_.size()) - 1; }
  // Epoch positions [begin(w), begin(w + 1)) belong to window w.
  int64_t begin(int64_t w) const { return begin_[w]; }
  // The window holding epoch position `pos`.
  int64_t WindowOf(int64_t pos) const;
  // The chunks of window w, in the epoch's order.
  std::vector<int64_t> Chunks(int64_t w) const;
  // Window w's training-row indices (into the sorted training rows), in epoch order.
  std::vector<int64_t> Order(int64_t w) const;

 private:
  int64_t n_ = 0;
  StreamOrder so_;
  uint64_t seed_ = 0;
  int64_t epoch_ = 0;
  bool shuffle_ = true;
  std::vector<int64_t> chunk_perm_;
  std::vector<int64_t> begin_;  // windows + 1 entries
};

// The window order for data of `row_bytes` bytes a row held under `memory_mb`
// (a rank holds two windows: the one it trains on and the next, read ahead):
// chunks of `chunk_rows` rows, as many per window as a third of the budget
// holds (at least one).
StreamOrder StreamOrderFor(double memory_mb, int64_t row_bytes, int64_t chunk_rows);

}  // namespace driftrun
