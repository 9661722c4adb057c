// FlatParams: a model's parameters in one contiguous buffer and their
// gradients in another. Each parameter's data becomes a view of the flat
// parameter buffer (same values, same identity, still keyed by name), and its
// .grad() a view of the flat gradient buffer that backward accumulates into in
// place. The layout is the gradient buckets' order (reverse registration order,
// the order backward produces gradients), so a bucket is one contiguous range
// of the gradient buffer and the optimizer is one pass over each buffer.
//
// All parameters must be float32 on one device. Internal to trainers/
// (LibTorch). Not thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"

namespace driftrun {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class FlatParams {
 public:
  // `params` in registration order (Module::named_parameters()).
  static Result<FlatParams> Make(const NamedTensors& params);

  // Parameters start at multiples of kAlign elements (64 bytes); the gaps
  // between them are zeros.
  static constexpr int64_t kAlign = 16;

  // Flat buffers (numel() elements each, gaps included).
  const torch::Tensor& data() const { return data_; }
  const torch::Tensor& grad() const { return grad_; }
  int64_t numel() const { return numel_; }

  // Parameters in registration order: name, the parameter, and its range in
  // the flat buffers.
  size_t size() const { return params_.size(); }
  const std::string& name(size_t i) const { return params_[i].first; }
  const torch::Tensor& param(size_t i) const { return params_[i].second; }
  int64_t offset(size_t i) const { return offset_[i]; }

  // Parameter i's piece of a flat buffer laid out like data() (optimizer state).
  torch::Tensor View(const torch::Tensor& flat, size_t i) const;

  // Zeroes the gradient buffer and points every .grad() at its view again
  // (in case anything replaced one). Call before each backward.
  void ZeroGrad();

  // Moves the gradient buffer to other memory of numel() float32 elements (the
  // ranks' shared memory, shared_step.h): every .grad() becomes a view of it,
  // starting at zero. The parameters stay where they are.
  void MoveGradTo(const torch::Tensor& grad);

 private:
  NamedTensors params_;
  std::vector<int64_t> offset_;
  int64_t numel_ = 0;
  torch::Tensor data_, grad_;
  std::vector<torch::Tensor> grad_views_;  // per parameter
};

}  // namespace driftrun
