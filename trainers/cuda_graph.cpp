#include "trainers/cuda_graph.h"

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <string>
#include <vector>

namespace driftrun {

struct CudaGraphStep::Impl {
  DirectMlp* direct = nullptr;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  torch::Tensor x, y, loss;  // the graph's static input and output
  double denom = 0;
  int64_t replays = 0;
  std::vector<size_t> grad_order;  // direct->GradOrder(), once

  bool Fits(const torch::Tensor& bx, const torch::Tensor& by, double d) const {
    return graph && bx.sizes() == x.sizes() && by.sizes() == y.sizes() && bx.dtype() == x.dtype() &&
           by.dtype() == y.dtype() && d == denom;
  }

  // Warm-up and capture on a side stream (capture is not allowed on the
  // default stream), ordered after and before the current stream's work.
  void Capture(const torch::Tensor& bx, const torch::Tensor& by, double d) {
    x = bx.clone();
    y = by.clone();
    denom = d;
    const auto device = bx.device().index();
    c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device);
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device);
    at::cuda::CUDAEvent before, after;
    before.record(current);
    before.block(side);
    {
      c10::cuda::CUDAStreamGuard guard(side);
      for (int i = 0; i < 3; ++i) direct->Step(x, y, denom, {});
      auto g = std::make_unique<at::cuda::CUDAGraph>();
      // Thread-local: the streaming read-ahead thread may copy to the GPU meanwhile.
      g->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      loss = direct->Step(x, y, denom, {});
      g->capture_end();
      graph = std::move(g);
    }
    after.record(side);
    after.block(current);
  }
};

CudaGraphStep::CudaGraphStep(DirectMlp* direct) : impl_(std::make_unique<Impl>()) {
  impl_->direct = direct;
}

CudaGraphStep::~CudaGraphStep() = default;

int64_t CudaGraphStep::replays() const {
  return impl_->replays;
}

Result<torch::Tensor> CudaGraphStep::Step(const torch::Tensor& x, const torch::Tensor& y, double denom,
                                          const std::function<void(size_t)>& on_grad) {
  Impl& m = *impl_;
  if (!m.graph) {
    try {
      m.Capture(x, y, denom);
    } catch (const std::exception& e) {
      m.graph.reset();
      return Status::Infra(std::string("capturing the training step as a CUDA graph failed: ") + e.what());
    }
  }
  if (!m.Fits(x, y, denom)) return m.direct->Step(x, y, denom, on_grad);
  m.x.copy_(x);
  m.y.copy_(y);
  m.graph->replay();
  ++m.replays;
  if (on_grad) {
    if (m.grad_order.empty()) m.grad_order = m.direct->GradOrder();
    for (size_t i : m.grad_order) on_grad(i);
  }
  return m.loss;
}

}  // namespace driftrun
