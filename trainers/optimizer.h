// Optimizers (SGD with momentum, Adam, AdamW) over a model's flat parameter and
// gradient buffers (flat_params.h): fused passes over every parameter per step
// on the CPU (fused_optim.h: one for SGD; two around ATen's sqrt for Adam), a handful of whole-buffer ATen
// operations on a GPU. The update rules follow torch.optim's single-tensor implementations step for step,
// which the PyTorch cross-check test relies on; state is exposed keyed by parameter name, so checkpoints are
// readable and survive a change of rank count.
//
// Not thread-safe. Step() reads the flat gradient buffer and updates the
// parameters in place.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"
#include "trainers/flat_params.h"
#include "trainers/optimizer_options.h"

namespace driftrun {

class Optimizer {
 public:
  // `flat` must outlive the optimizer.
  Optimizer(OptimizerOptions opts, const FlatParams* flat);
  void Step(double lr);
  // One step over elements [begin, end) of the flat buffers only (CPU), with
  // the gradients at `grad` (grad[0] is element `begin`'s) instead of the flat
  // gradient buffer: each rank of a shared-memory step updates its own range
  // (shared_step.h). The step count advances as with Step().
  void StepRange(double lr, int64_t begin, int64_t end, const float* grad);
  int64_t steps() const { return steps_; }
  // State as "<param>/<slot>" tensors (exp_avg, exp_avg_sq, momentum): views of
  // the flat state; none before the first step.
  NamedTensors State() const;
  // Restores state written by State(); a missing or mis-shaped slot is Status::Data.
  Status LoadState(const std::map<std::string, torch::Tensor>& state, int64_t steps);
  // Slot names ("exp_avg", ...), each a flat buffer laid out like the parameters.
  std::vector<const char*> Slots() const;
  // Moves each slot's flat buffer to `to[slot]` (numel() float32 elements),
  // copying the values when `copy` (else the caller fills them).
  void MoveStateTo(const std::map<std::string, torch::Tensor>& to, bool copy);

 private:
  void StepCpu(double lr, int64_t begin, int64_t end, const float* g);
  void StepDevice(double lr);

  OptimizerOptions o_;
  const FlatParams* flat_;
  std::map<std::string, torch::Tensor> slots_;  // slot name ("exp_avg") -> flat buffer
  bool has_state_ = false;
  int64_t steps_ = 0;
};

}  // namespace driftrun
