// CudaGraphStep: DirectMlp's forward and backward (trainers/direct_mlp.h)
// captured once as a CUDA graph and replayed for every batch of the captured
// shape: one graph launch instead of about 20 kernel launches (a small MLP's
// GPU step is bound by launches, not by the GPU). Each batch is copied into
// the graph's static input buffers first; the loss and the gradients land
// where the capture put them (the gradients in the flat buffer, as eager).
// Batches of another shape (an epoch's last, smaller batch) run eagerly. The
// all-reduce and the optimizer stay outside the graph (the learning rate and
// bias corrections change every step). `train.cuda_graph` chooses it.
//
// CUDA builds only (DRIFTRUN_WITH_CUDA); internal to trainers/. Not thread-safe.
#pragma once

#include <functional>
#include <memory>

#include <torch/torch.h>

#include "common/status.h"
#include "trainers/direct_mlp.h"

namespace driftrun {

class CudaGraphStep {
 public:
  // `direct` (on a CUDA device) must outlive this.
  explicit CudaGraphStep(DirectMlp* direct);
  ~CudaGraphStep();
  CudaGraphStep(const CudaGraphStep&) = delete;
  CudaGraphStep& operator=(const CudaGraphStep&) = delete;

  // As DirectMlp::Step. The first call captures the graph (after three eager
  // warm-up steps on the same batch, whose gradients the replay overwrites);
  // a capture that fails is Status::Infra, and the caller may go on eagerly.
  Result<torch::Tensor> Step(const torch::Tensor& x, const torch::Tensor& y, double denom,
                             const std::function<void(size_t)>& on_grad);
  // Steps replayed from the graph so far (the rest ran eagerly).
  int64_t replays() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace driftrun
