// Optimizers (SGD with momentum, Adam, AdamW) with state keyed by parameter name,
// so checkpoints are readable and survive a change of rank count. The update
// rules follow torch.optim's single-tensor implementations step for step, which
// the PyTorch cross-check test relies on.
//
// Not thread-safe. Step() reads each parameter's .grad() and updates in place
// under NoGradGuard.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "common/status.h"
#include "trainers/optimizer_options.h"

namespace driftrun {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class Optimizer {
 public:
  Optimizer(OptimizerOptions opts, NamedTensors params);
  void Step(double lr);
  int64_t steps() const { return steps_; }
  // State as "<param>/<slot>" tensors (exp_avg, exp_avg_sq, momentum).
  NamedTensors State() const;
  // Restores state written by State(); a missing or mis-shaped slot is Status::Data.
  Status LoadState(const std::map<std::string, torch::Tensor>& state, int64_t steps);

 private:
  OptimizerOptions o_;
  NamedTensors params_;
  std::map<std::string, torch::Tensor> state_;
  int64_t steps_ = 0;
};

}  // namespace driftrun
