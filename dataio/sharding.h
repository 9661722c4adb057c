// Sharding: which rows each rank reads, independent of the number of ranks.
//
// Pure functions, no I/O. The global order of training rows in an epoch depends
// only on (seed, epoch) and a global batch is a consecutive slice of that order.
// Each rank holds one contiguous shard of the file (one hyperslab read) and
// trains on the rows of each global batch that fall in its shard. So N ranks with
// global batch B see exactly the batches one rank with batch B sees, no rank
// reads another's rows, and a run resumed on another number of ranks continues
// the same sequence.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace driftrun {

// Deterministic Fisher-Yates permutation of [0, n) from a 64-bit seed (splitmix64
// stream), identical on every platform and standard library.
std::vector<int64_t> Permutation(int64_t n, uint64_t seed);

// The next value of a splitmix64 stream (advances *state): driftrun's one
// portable generator (shuffles, bootstrap resamples).
uint64_t SplitMix64(uint64_t* state);

// Mixes values into one seed (for per-epoch, per-step, per-rank streams).
uint64_t MixSeed(uint64_t a, uint64_t b, uint64_t c = 0);

struct TrainValSplit {
  std::vector<int64_t> train;  // sorted row ids
  std::vector<int64_t> val;    // sorted row ids
};
// Row r is held out when a fixed hash of r falls below val_fraction: about
// n * val_fraction rows (at least one when val_fraction > 0 and n > 1, and
// never all of them). The split depends on nothing else (not the training
// seed), so every model trained on a file holds out the same rows, and rows
// appended to a file leave the earlier rows' side unchanged: a retrained
// candidate and the model it would replace are scored on rows neither saw.
TrainValSplit SplitTrainVal(int64_t n, double val_fraction);
// The hash behind SplitTrainVal, in [0, 1).
double HoldoutDraw(int64_t row);

// The training rows of one epoch in global order: `train` permuted by (seed,
// epoch), or as is when shuffle is false.
std::vector<int64_t> EpochOrder(const std::vector<int64_t>& train, uint64_t seed, int64_t epoch,
                                bool shuffle);

// Full global batches per epoch (the last partial batch is dropped).
int64_t BatchesPerEpoch(int64_t train_rows, int64_t global_batch);

// The rows of each global batch that live in a rank's shard [begin, end) of the
// file, as positions within the shard (row - begin), for batches
// [first_batch, BatchesPerEpoch). positions[offsets[k] .. offsets[k+1]) belong to
// batch first_batch + k. Counts vary from batch to batch (about B / world); the
// loss is normalised by the global batch, so the all-reduced gradient is the
// global batch's mean whatever the split.
struct LocalBatches {
  std::vector<int64_t> positions;
  std::vector<int64_t> offsets;
};
LocalBatches LocalBatchPositions(const std::vector<int64_t>& order, int64_t global_batch, int64_t first_batch,
                                 int64_t begin, int64_t end);

// [begin, end) of a contiguous 1/world share of n items (the first n % world
// ranks get one more).
std::pair<int64_t, int64_t> ContiguousShare(int64_t n, int rank, int world);

}  // namespace driftrun
