#include "dataio/sharding.h"

#include <algorithm>
#include <cmath>

namespace driftrun {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {

// Unbiased integer in [0, bound) (Lemire's method with rejection).
uint64_t Below(uint64_t* state, uint64_t bound) {
  while (true) {
    uint64_t x = SplitMix64(state);
    __uint128_t m = static_cast<__uint128_t>(x) * bound;
    uint64_t low = static_cast<uint64_t>(m);
    if (low >= bound || low >= (-bound) % bound) return static_cast<uint64_t>(m >> 64);
  }
}

}  // namespace

uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t s = a;
  uint64_t x = SplitMix64(&s) ^ b;
  uint64_t y = SplitMix64(&x) ^ c;
  return SplitMix64(&y);
}

std::vector<int64_t> Permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t state = seed;
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(Below(&state, static_cast<uint64_t>(i + 1)));
    std::swap(p[i], p[j]);
  }
  return p;
}

double HoldoutDraw(int64_t row) {
  return static_cast<double>(MixSeed(0x5a11, static_cast<uint64_t>(row)) >> 11) * 0x1.0p-53;
}

TrainValSplit SplitTrainVal(int64_t n, double val_fraction) {
  TrainValSplit s;
  int64_t lowest = 0;
  for (int64_t r = 0; r < n; ++r) {
    const double u = HoldoutDraw(r);
    (u < val_fraction ? s.val : s.train).push_back(r);
    if (u < HoldoutDraw(lowest)) lowest = r;
  }
  // A split with a fraction > 0 holds at least one row out (when there are two).
  if (val_fraction > 0 && n > 1 && s.val.empty()) {
    s.val.push_back(lowest);
    s.train.erase(std::find(s.train.begin(), s.train.end(), lowest));
  }
  if (val_fraction > 0 && !s.val.empty() && s.train.empty()) {  // keep one row to train on
    s.train.push_back(s.val.back());
    s.val.pop_back();
  }
  return s;
}

std::vector<int64_t> EpochOrder(const std::vector<int64_t>& train, uint64_t seed, int64_t epoch,
                                bool shuffle) {
  if (!shuffle) return train;
  std::vector<int64_t> p =
      Permutation(static_cast<int64_t>(train.size()), MixSeed(seed, 0xe90c, static_cast<uint64_t>(epoch)));
  std::vector<int64_t> out(train.size());
  for (size_t i = 0; i < p.size(); ++i) out[i] = train[p[i]];
  return out;
}

int64_t BatchesPerEpoch(int64_t train_rows, int64_t global_batch) {
  return global_batch > 0 ? train_rows / global_batch : 0;
}

LocalBatches LocalBatchPositions(const std::vector<int64_t>& order, int64_t global_batch, int64_t first_batch,
                                 int64_t begin, int64_t end) {
  LocalBatches lb;
  const int64_t batches = BatchesPerEpoch(static_cast<int64_t>(order.size()), global_batch);
  lb.offsets.push_back(0);
  for (int64_t b = first_batch; b < batches; ++b) {
    for (int64_t i = b * global_batch; i < (b + 1) * global_batch; ++i) {
      if (order[i] >= begin && order[i] < end) lb.positions.push_back(order[i] - begin);
    }
    lb.offsets.push_back(static_cast<int64_t>(lb.positions.size()));
  }
  return lb;
}

std::pair<int64_t, int64_t> ContiguousShare(int64_t n, int rank, int world) {
  int64_t base = n / world, extra = n % world;
  int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  int64_t end = begin + base + (rank < extra ? 1 : 0);
  return {begin, end};
}

}  // namespace driftrun
