// GradReducer: sums gradients across ranks while backward still runs.
//
// Gradients live in the flat gradient buffer (flat_params.h), laid out in
// bucket order, so a bucket is a contiguous range of it and is all-reduced in
// place: nothing is copied in or out. A hook after each parameter's gradient
// accumulation counts the bucket down; a complete bucket is all-reduced
// asynchronously, strictly in bucket order so every rank issues the same
// collectives in the same order (a bucket that fills early waits for its
// predecessors). Finish() launches what is left (a parameter that got no
// gradient keeps the zeros of FlatParams::ZeroGrad) and waits. The caller scales
// the loss so that the sum is the global batch mean (the loss is divided by the
// global batch, not the local one, since ranks may hold different numbers of
// rows of a batch).
//
// Call order per step: FlatParams::ZeroGrad(), Prepare(), backward(), Finish().
// Hooks run on the thread that runs backward (the caller's, for CPU tensors).
// Not thread-safe otherwise.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "comm/communicator.h"
#include "trainers/flat_params.h"

namespace torch::autograd {
struct Node;
}

namespace driftrun {

class GradReducer {
 public:
  // `flat` must outlive the reducer.
  GradReducer(Communicator& comm, const FlatParams* flat, size_t bucket_bytes);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  void Prepare();
  // Parameter `param`'s gradient is final for this step: for a backward that
  // does not go through autograd (DirectMlp), which fires no hooks.
  void GradReady(size_t param) { OnGrad(param); }
  [[nodiscard]] Status Finish();
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }
  // Number of buckets whose all-reduce started inside backward (for tests/logs).
  size_t launched_during_backward() const { return launched_in_backward_; }
  // Seconds Finish() spent waiting for all-reduces to complete (the exposed,
  // not overlapped, communication of the last step).
  double last_wait_s() const { return last_wait_s_; }

 private:
  void OnGrad(size_t param);
  void LaunchReady();

  Communicator& comm_;
  const FlatParams* flat_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<torch::Tensor> bucket_view_;  // per bucket: its range of the gradient buffer
  std::vector<size_t> bucket_of_;           // per param
  std::vector<size_t> pending_;             // per bucket: grads still to arrive
  std::vector<bool> got_;                   // per param
  std::vector<std::unique_ptr<Work>> work_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // per param, holding the hooks
  std::vector<uintptr_t> hook_keys_;
  size_t next_launch_ = 0;
  size_t launched_in_backward_ = 0;
  bool in_backward_ = false;
  double last_wait_s_ = 0;
};

}  // namespace driftrun
