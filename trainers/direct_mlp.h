// DirectMlp: an MLP's training step (forward, loss, backward) with the backward
// written out instead of recorded by autograd. It calls the ATen functions
// autograd's nodes call (addmm forward; mm for the weight and input gradients
// in the order AddmmBackward0 uses, a sum over the batch for the bias,
// threshold/tanh/sigmoid/gelu backward, mse_loss_backward, nll_loss_backward
// and _log_softmax_backward_data), so the loss and gradients equal
// loss.backward() on the module bit for bit (tests/trainers/direct_mlp_test.cpp).
// Each weight and bias gradient is written straight into its view of the flat
// gradient buffer (mm_out / sum_out): no zeroing, no accumulation, no graph.
// This is most of the fixed cost of a small step: about 25 fewer dispatches
// and no autograd engine (BENCHMARKS.md, "hand-written backward").
//
// Only for specs of linear layers and elementwise activations (relu, tanh,
// sigmoid, gelu; dropout with p = 0, flatten) on [N, D] float input; anything
// else (conv, embeddings, dropout) keeps the autograd step. Internal to
// trainers/ (LibTorch). Not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "models/model_spec.h"
#include "trainers/flat_params.h"

namespace driftrun {

class DirectMlp {
 public:
  // Null when the spec has a layer the hand-written backward does not cover.
  // `flat` holds the module's parameters (named "layers.<k>.weight" / ".bias")
  // and must outlive the result.
  static std::unique_ptr<DirectMlp> Make(const ModelSpec& spec, const FlatParams& flat, bool classification);

  // Forward on x ([N, D] float32), the loss summed over the batch (returned,
  // a 0-dim tensor) and the gradients of loss_sum / denom written into the
  // flat gradient buffer. on_grad(i) (may be empty) is called with each
  // parameter's index in `flat` once its gradient is written, in backward
  // order (last layer first).
  torch::Tensor Step(const torch::Tensor& x, const torch::Tensor& y, double denom,
                     const std::function<void(size_t)>& on_grad);
  // The parameter indices in the order Step reports them to on_grad.
  std::vector<size_t> GradOrder() const;

 private:
  enum class Kind { kLinear, kRelu, kTanh, kSigmoid, kGelu };
  struct Op {
    Kind kind;
    size_t weight = 0, bias = 0;  // kLinear: indices in flat
  };
  DirectMlp(const FlatParams& flat, std::vector<Op> ops, bool classification)
      : flat_(flat), ops_(std::move(ops)), classification_(classification) {}
  // d(loss_sum / denom) / d(pred); *loss_sum gets the loss.
  torch::Tensor LossGrad(const torch::Tensor& pred, const torch::Tensor& y, double denom,
                         torch::Tensor* loss_sum);
  // Whether op k's input is a linear layer's output (made here, and needed by
  // no backward once the activation has run).
  bool Owned(size_t k) const;
  // Drops the step's activations; returns loss_sum.
  torch::Tensor Finish(const torch::Tensor& loss_sum);

  const FlatParams& flat_;
  std::vector<Op> ops_;
  bool classification_;
  size_t first_linear_ = 0;          // ops before it need no gradient
  std::vector<torch::Tensor> acts_;  // per op: its input; last: the prediction
  torch::Tensor scale_;              // 1 / denom as autograd's DivBackward makes it
  double scale_denom_ = 0;
};

}  // namespace driftrun
