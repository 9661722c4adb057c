#include "dataio/stream_order.h"

#include <algorithm>

#include "dataio/sharding.h"

namespace driftrun {

EpochWindows::EpochWindows(int64_t train_rows, StreamOrder so, uint64_t seed, int64_t epoch, bool shuffle)
    : n_(train_rows), so_(so), seed_(seed), epoch_(epoch), shuffle_(shuffle) {
  const int64_t chunks = (n_ + so_.chunk_rows - 1) / so_.chunk_rows;
  if (shuffle_) {
    chunk_perm_ = Permutation(chunks, MixSeed(seed_, 0x57c4, static_cast<uint64_t>(epoch_)));
  } else {
    for (int64_t c = 0; c < chunks; ++c) chunk_perm_.push_back(c);
  }
  begin_.push_back(0);
  for (int64_t c = 0; c < chunks; c += so_.window_chunks) {
    int64_t rows = 0;
    for (int64_t k = c; k < std::min(chunks, c + so_.window_chunks); ++k) {
      const int64_t first = chunk_perm_[k] * so_.chunk_rows;
      rows += std::min(n_, first + so_.chunk_rows) - first;
    }
    begin_.push_back(begin_.back() + rows);
  }
}

int64_t EpochWindows::WindowOf(int64_t pos) const {
  return static_cast<int64_t>(std::upper_bound(begin_.begin(), begin_.end(), pos) - begin_.begin()) - 1;
}

std::vector<int64_t> EpochWindows::Chunks(int64_t w) const {
  const int64_t chunks = static_cast<int64_t>(chunk_perm_.size());
  const int64_t from = w * so_.window_chunks, to = std::min(chunks, from + so_.window_chunks);
  return {chunk_perm_.begin() + from, chunk_perm_.begin() + to};
}

std::vector<int64_t> EpochWindows::Order(int64_t w) const {
  std::vector<int64_t> rows;
  for (int64_t c : Chunks(w)) {
    for (int64_t i = c * so_.chunk_rows; i < std::min(n_, (c + 1) * so_.chunk_rows); ++i) rows.push_back(i);
  }
  if (!shuffle_) return rows;
  const std::vector<int64_t> p = Permutation(static_cast<int64_t>(rows.size()),
                                             MixSeed(seed_, static_cast<uint64_t>(epoch_), 0x5b00 + w));
  std::vector<int64_t> out(rows.size());
  for (size_t i = 0; i < p.size(); ++i) out[i] = rows[p[i]];
  return out;
}

StreamOrder StreamOrderFor(double memory_mb, int64_t row_bytes, int64_t chunk_rows) {
  StreamOrder so;
  so.chunk_rows = std::max<int64_t>(1, chunk_rows);
  const double window_bytes = memory_mb * 1024 * 1024 / 3;
  const double chunk_bytes =
      static_cast<double>(so.chunk_rows) * static_cast<double>(std::max<int64_t>(1, row_bytes));
  // At most 2^30 chunks a window (a budget of petabytes), so no sum overflows.
  so.window_chunks =
      static_cast<int64_t>(std::max(1.0, std::min(window_bytes / chunk_bytes, static_cast<double>(1 << 30))));
  return so;
}

}  // namespace driftrun
