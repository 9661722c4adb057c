// GradReducer: sums gradients across ranks while backward still runs.
//
// Gradient hooks copy each parameter's gradient into its bucket's flat buffer;
// when a bucket is complete it is all-reduced asynchronously, strictly in bucket
// order so every rank issues the same collectives in the same order (a bucket
// that fills early waits for its predecessors). Finish() launches what is left
// (parameters that got no gradient contribute zeros), waits and writes the sums
// into each parameter's .grad(). The caller scales the loss so that the sum is
// the global batch mean (the loss is divided by the global batch, not the local
// one, since ranks may hold different numbers of rows of a batch).
//
// Call order per step: Prepare(), backward(), Finish(). Hooks run on the thread
// that runs backward (the caller's, for CPU tensors). Not thread-safe otherwise.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "comm/communicator.h"

namespace driftrun {

class GradReducer {
 public:
  GradReducer(Communicator& comm, std::vector<torch::Tensor> params, size_t bucket_bytes);
  void Prepare();
  [[nodiscard]] Status Finish();
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }
  // Number of buckets whose all-reduce started inside backward (for tests/logs).
  size_t launched_during_backward() const { return launched_in_backward_; }

 private:
  void OnGrad(size_t param, const torch::Tensor& grad);
  void LaunchReady();

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<torch::Tensor> flat_;  // per bucket
  std::vector<size_t> bucket_of_;    // per param
  std::vector<int64_t> offset_;      // per param, in its bucket
  std::vector<size_t> pending_;      // per bucket: grads still to arrive
  std::vector<bool> got_;            // per param
  std::vector<std::unique_ptr<Work>> work_;
  size_t next_launch_ = 0;
  size_t launched_in_backward_ = 0;
  bool in_backward_ = false;
};

}  // namespace driftrun
