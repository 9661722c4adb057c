// SharedStep: the gradient sum and the optimizer step of ranks that share one
// host, through shared memory instead of an all-reduce (dist.shared_memory).
//
// All ranks map one block (comm/shared_memory.h) holding each rank's gradient
// buffer and published parameters, and one copy of the optimizer state (each
// rank updates only its range; rank 0 reads all of it for checkpoints). Every
// rank keeps its own parameters: one copy read by all would make each update
// pull cache lines back from the other cores, slower than copying. A step:
//   1. backward writes this rank's gradients into its own buffer;
//   2. barrier: every rank's gradients are complete (and nobody reads the
//      parameters any more this step);
//   3. each rank sums the gradients of all ranks (in rank order) over its own
//      range of the buffers (1/N of them, 64-byte aligned) into a private
//      buffer, runs the optimizer over that range alone, and publishes the
//      range's new parameters in its part of the shared memory;
//   4. barrier, then each rank copies the other ranks' published ranges into
//      its own parameters.
// With train.grad_clip every rank sums the whole gradient instead, for the
// norm (computed as torch::nn::utils::clip_grad_norm_ does, so the scale is
// the same bit for bit), and scales its range.
// Compared with an all-reduce followed by the optimizer on every rank, each
// rank sums a 1/N share of the gradients and runs 1/N of the optimizer
// (BENCHMARKS.md, "shared-memory step"). With two ranks the sum is the
// all-reduce's bit for bit (one addition, commutative), so runs with and
// without it are identical; with more ranks the order of the additions may
// differ from MPI's in the last bit.
//
// CPU only, and only when every rank of the communicator maps the block
// (one host); train_setup.cpp falls back to GradReducer otherwise. Both
// barriers are the communicator's, so a rank that never arrives is reported
// within dist.timeout_s as with an all-reduce.
// Internal to trainers/ (LibTorch). Not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/shared_memory.h"
#include "common/status.h"
#include "trainers/flat_params.h"
#include "trainers/optimizer.h"

namespace driftrun {

class SharedStep {
 public:
  // Collective. Moves `flat`'s gradient buffer and `optim`'s state into shared
  // memory (rank 0's state: the replicas are identical here) and returns the
  // step; null with *why_not when the ranks cannot share memory. `flat` and
  // `optim` must outlive the result.
  static Result<std::unique_ptr<SharedStep>> Make(Communicator& comm, FlatParams* flat, Optimizer* optim,
                                                  std::string* why_not);

  // Collective: steps 2 to 4 above after this rank's backward (grad_clip > 0:
  // the total gradient norm is clipped to it). *sync_s gets the seconds spent
  // in the barriers, sums and copies (the rest is the clipping and optimizer).
  [[nodiscard]] Status Step(double lr, double grad_clip, double* sync_s);

 private:
  SharedStep(Communicator& comm, FlatParams* flat, Optimizer* optim, std::shared_ptr<SharedMemory> mem);
  [[nodiscard]] Status Barrier();
  // Scales sum_'s range [begin_, end_) as clip_grad_norm_ would the whole sum.
  void Clip(double max_norm);

  Communicator& comm_;
  FlatParams* flat_;
  Optimizer* optim_;
  std::shared_ptr<SharedMemory> mem_;  // also held by the tensors that view it
  std::vector<const float*> grads_;    // per rank: its gradient buffer
  std::vector<float*> params_;         // per rank: its published parameters
  std::vector<int64_t> bounds_;        // rank q's range: [bounds_[q], bounds_[q + 1])
  torch::Tensor sum_;                  // private: the summed gradients (this range, or all to clip)
  int64_t begin_ = 0, end_ = 0;
};

}  // namespace driftrun
