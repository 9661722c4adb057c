#include "trainers/optimizer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "trainers/fused_optim.h"

namespace driftrun {
namespace {

// Elements per task when a step is split across intra-op threads.
constexpr int64_t kGrain = 1 << 15;

}  // namespace

Optimizer::Optimizer(OptimizerOptions opts, const FlatParams* flat) : o_(std::move(opts)), flat_(flat) {
  for (const char* slot : Slots()) slots_[slot] = torch::zeros_like(flat_->data());
}

std::vector<const char*> Optimizer::Slots() const {
  if (o_.kind == "sgd")
    return o_.momentum != 0 ? std::vector<const char*>{"momentum"} : std::vector<const char*>{};
  return {"exp_avg", "exp_avg_sq"};
}

void Optimizer::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  if (flat_->data().is_cpu()) {
    StepCpu(lr, 0, flat_->numel(), flat_->grad().data_ptr<float>());
  } else {
    StepDevice(lr);
  }
  has_state_ = true;
}

void Optimizer::StepRange(double lr, int64_t begin, int64_t end, const float* grad) {
  torch::NoGradGuard no_grad;
  ++steps_;
  StepCpu(lr, begin, end, grad);
  has_state_ = true;
}

void Optimizer::MoveStateTo(const std::map<std::string, torch::Tensor>& to, bool copy) {
  for (auto& [slot, flat] : slots_) {
    const torch::Tensor& dst = to.at(slot);
    if (copy) dst.copy_(flat);
    flat = dst;
  }
}

void Optimizer::StepCpu(double lr, int64_t begin, int64_t end, const float* g) {
  float* p = flat_->data().data_ptr<float>() + begin;
  const int64_t n = end - begin;
  const double t = static_cast<double>(steps_);
  if (o_.kind == "sgd") {
    SgdCoefs c;
    c.weight_decay = static_cast<float>(o_.weight_decay);
    c.momentum = static_cast<float>(o_.momentum);
    c.first = !has_state_;
    c.neg_lr = static_cast<float>(-lr);
    float* buf = c.momentum != 0 ? slots_.at("momentum").data_ptr<float>() + begin : nullptr;
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      FusedSgd(c, p + b, g + b, buf ? buf + b : nullptr, e - b);
    });
    return;
  }
  AdamCoefs c;
  c.adamw = o_.kind == "adamw";
  c.decay = static_cast<float>(1 - lr * o_.weight_decay);
  c.weight_decay = static_cast<float>(o_.weight_decay);
  c.one_minus_beta1 = static_cast<float>(1 - o_.beta1);
  c.beta2 = static_cast<float>(o_.beta2);
  c.one_minus_beta2 = static_cast<float>(1 - o_.beta2);
  c.bias2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(o_.beta2, t)));
  c.eps = static_cast<float>(o_.eps);
  c.step = static_cast<float>(-lr / (1 - std::pow(o_.beta1, t)));
  float* m = slots_.at("exp_avg").data_ptr<float>() + begin;
  const torch::Tensor v = slots_.at("exp_avg_sq").narrow(0, begin, n);
  float* vp = v.data_ptr<float>();
  at::parallel_for(0, n, kGrain,
                   [&](int64_t b, int64_t e) { AdamMoments(c, p + b, g + b, m + b, vp + b, e - b); });
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { AdamApply(c, p + b, m + b, vp + b, e - b); });
}

// The torch.optim single-tensor rules as ATen operations on the whole buffers.
void Optimizer::StepDevice(double lr) {
  torch::Tensor p = flat_->data();
  torch::Tensor g = flat_->grad();
  const double t = static_cast<double>(steps_);
  if (o_.kind == "sgd") {
    if (o_.weight_decay != 0) g = g.add(p, o_.weight_decay);
    if (o_.momentum != 0) {
      torch::Tensor& buf = slots_.at("momentum");
      if (has_state_) {
        buf.mul_(o_.momentum).add_(g);
      } else {
        buf.copy_(g);
      }
      g = buf;
    }
    p.add_(g, -lr);
    return;
  }
  if (o_.kind == "adamw") {
    p.mul_(1 - lr * o_.weight_decay);
  } else if (o_.weight_decay != 0) {
    g = g.add(p, o_.weight_decay);
  }
  torch::Tensor& m = slots_.at("exp_avg");
  torch::Tensor& v = slots_.at("exp_avg_sq");
  m.lerp_(g, 1 - o_.beta1);
  v.mul_(o_.beta2).addcmul_(g, g, 1 - o_.beta2);
  const double bias1 = 1 - std::pow(o_.beta1, t);
  const double bias2_sqrt = std::sqrt(1 - std::pow(o_.beta2, t));
  torch::Tensor denom = (v.sqrt() / bias2_sqrt).add_(o_.eps);
  p.addcdiv_(m, denom, -lr / bias1);
}

NamedTensors Optimizer::State() const {
  NamedTensors out;
  if (!has_state_) return out;
  for (const auto& [slot, flat] : slots_) {
    for (size_t i = 0; i < flat_->size(); ++i)
      out.emplace_back(flat_->name(i) + "/" + slot, flat_->View(flat, i));
  }
  return out;
}

Status Optimizer::LoadState(const std::map<std::string, torch::Tensor>& state, int64_t steps) {
  torch::NoGradGuard no_grad;
  for (auto& [slot, flat] : slots_) flat.zero_();
  has_state_ = false;
  // After a step every parameter has its slots: a missing slot is a damaged
  // checkpoint, and resuming with fresh state would not be exact.
  bool loaded = false;
  for (auto& [slot, flat] : slots_) {
    for (size_t i = 0; i < flat_->size(); ++i) {
      const std::string key = flat_->name(i) + "/" + slot;
      auto it = state.find(key);
      if (it == state.end()) {
        if (steps > 0) {
          return Status::Data(
              "the checkpoint has no optimizer state '" + key + "' although it was written after " +
              std::to_string(steps) +
              " steps: it is damaged or was written by another tool, and resuming would not be "
              "exact; resume from an earlier checkpoint");
        }
        continue;
      }
      torch::Tensor view = flat_->View(flat, i);
      if (!it->second.sizes().equals(view.sizes())) {
        return Status::Data("optimizer state '" + key + "' has the wrong shape");
      }
      view.copy_(it->second);
      loaded = true;
    }
  }
  has_state_ = loaded;
  steps_ = steps;
  return Status::Ok();
}

}  // namespace driftrun
