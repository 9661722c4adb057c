#include "trainers/optimizer.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace driftrun {

Optimizer::Optimizer(OptimizerOptions opts, NamedTensors params)
    : o_(std::move(opts)), params_(std::move(params)) {}

void Optimizer::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double t = static_cast<double>(steps_);
  for (auto& [name, p] : params_) {
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.grad();
    if (o_.kind == "sgd") {
      if (o_.weight_decay != 0) g = g.add(p, o_.weight_decay);
      if (o_.momentum != 0) {
        auto it = state_.find(name + "/momentum");
        if (it == state_.end()) {
          it = state_.emplace(name + "/momentum", g.clone()).first;
        } else {
          it->second.mul_(o_.momentum).add_(g);
        }
        g = it->second;
      }
      p.add_(g, -lr);
      continue;
    }
    // adam / adamw
    if (o_.kind == "adamw") {
      p.mul_(1 - lr * o_.weight_decay);
    } else if (o_.weight_decay != 0) {
      g = g.add(p, o_.weight_decay);
    }
    auto& m = state_[name + "/exp_avg"];
    auto& v = state_[name + "/exp_avg_sq"];
    if (!m.defined()) {
      m = torch::zeros_like(p);
      v = torch::zeros_like(p);
    }
    m.lerp_(g, 1 - o_.beta1);
    v.mul_(o_.beta2).addcmul_(g, g.conj(), 1 - o_.beta2);
    const double bias1 = 1 - std::pow(o_.beta1, t);
    const double bias2_sqrt = std::sqrt(1 - std::pow(o_.beta2, t));
    torch::Tensor denom = (v.sqrt() / bias2_sqrt).add_(o_.eps);
    p.addcdiv_(m, denom, -lr / bias1);
  }
}

NamedTensors Optimizer::State() const {
  NamedTensors out;
  for (const auto& [k, v] : state_) out.emplace_back(k, v);
  return out;
}

Status Optimizer::LoadState(const std::map<std::string, torch::Tensor>& state, int64_t steps) {
  state_.clear();
  // After a step every parameter has its slots (Step() makes them for each
  // gradient, and training gives every parameter one): a missing slot is a
  // damaged checkpoint, and resuming with fresh state would not be exact.
  std::vector<const char*> needed;
  if (o_.kind == "sgd" && o_.momentum != 0) needed = {"/momentum"};
  if (o_.kind != "sgd") needed = {"/exp_avg", "/exp_avg_sq"};
  for (const auto& [name, p] : params_) {
    for (const char* slot : {"/momentum", "/exp_avg", "/exp_avg_sq"}) {
      auto it = state.find(name + slot);
      if (it == state.end()) {
        if (steps > 0 && std::find(needed.begin(), needed.end(), slot) != needed.end()) {
          return Status::Data(
              "the checkpoint has no optimizer state '" + name + slot + "' although it was written after " +
              std::to_string(steps) +
              " steps: it is damaged or was written by another tool, and resuming would not be exact; "
              "resume from an earlier checkpoint");
        }
        continue;
      }
      if (!it->second.sizes().equals(p.sizes())) {
        return Status::Data("optimizer state '" + name + slot + "' has the wrong shape");
      }
      state_[name + slot] = it->second.to(p.device(), p.scalar_type()).clone();
    }
  }
  steps_ = steps;
  return Status::Ok();
}

}  // namespace driftrun
