// ShardStream: a rank's shard of the training data, streamed window by window
// (data.memory_mb; the order is dataio/stream_order.h) instead of held whole.
//
// For each epoch the rank holds the window it trains on and the next one,
// which a read-ahead thread reads from HDF5 and preprocesses (on the CPU)
// while the current one trains (during an epoch's last window, the next
// epoch's first). A window is read one chunk at a time (one
// hyperslab per chunk's rows in this shard); only this rank's training rows of
// it are kept. Batch(b) hands the rank's rows of global batch b in epoch
// order, the rows of a batch that straddles two windows included.
//
// HDF5 is not used from two threads: call Quiesce() before anything else on
// this rank reads or writes HDF5 (checkpoints, evaluation). Internal to
// trainers/ (LibTorch). Not thread-safe otherwise.
#pragma once

#include <torch/torch.h>

#include <future>
#include <memory>
#include <vector>

#include "common/status.h"
#include "dataio/stream_order.h"
#include "kernels/transform.h"

namespace driftrun {

struct Session;

class ShardStream {
 public:
  explicit ShardStream(Session& s);
  ~ShardStream();
  ShardStream(const ShardStream&) = delete;
  ShardStream& operator=(const ShardStream&) = delete;

  // The order of `epoch`; the first window needed is read when a batch asks.
  void StartEpoch(int64_t epoch);
  // This rank's rows of global batch b (features and labels on the device, and
  // their rows in the file, for dropout keys).
  // file_rows may be null (not wanted: no dropout).
  Status Batch(int64_t b, torch::Tensor* x, torch::Tensor* y, torch::Tensor* file_rows);
  // Waits for a read in flight (its result is kept).
  void Quiesce();
  // Rows this rank holds now (for tests and the run summary).
  int64_t held_rows() const;

  struct Window {
    int64_t epoch = -1;
    int64_t w = -1;
    Status status;
    torch::Tensor x, y, rows;    // this rank's rows of the window, in file-row order
    TransformReport counts;      // imputed and clipped by the preprocessing
    std::vector<int32_t> local;  // per epoch position in the window: index into x, or -1
  };

 private:
  using Order = std::shared_ptr<const EpochWindows>;
  Window Load(const Order& ew, int64_t w) const;  // runs on the read-ahead thread
  Status Ensure(int64_t w);  // cur_ holds window w (and the read of the one after started)
  void Prefetch(const Order& ew, int64_t w);
  bool Holds(const Window& win, int64_t w) const { return win.epoch == ew_->epoch() && win.w == w; }

  Session& s_;
  Order ew_, next_ew_;
  Window cur_, next_;
  std::future<Window> pending_;
  bool reading_ = false;
  int64_t pending_epoch_ = -1, pending_w_ = -1;
  int64_t first_epoch_ = -1;  // its windows are counted in Session::pre_counts
};

}  // namespace driftrun
