#include "trainers/flat_params.h"

namespace driftrun {

Result<FlatParams> FlatParams::Make(const NamedTensors& params) {
  FlatParams f;
  f.params_ = params;
  if (params.empty()) return Status::Usage("the model has no parameters to train");
  const torch::TensorOptions opts = params[0].second.options().requires_grad(false);
  for (const auto& [name, p] : params) {
    if (p.scalar_type() != torch::kFloat || p.device() != params[0].second.device()) {
      return Status::Infra("parameter '" + name + "' is not float32 on the model's device");
    }
  }
  // Reverse registration order: the buckets' order. Each parameter starts on
  // a 64-byte boundary, as a freshly allocated tensor does: BLAS picks its
  // kernel by the output's alignment, so a gradient computed into its view
  // equals the one autograd computes into a new tensor bit for bit. The gaps
  // stay zero in every buffer (and under every optimizer).
  f.offset_.resize(params.size());
  for (size_t k = params.size(); k-- > 0;) {
    f.offset_[k] = f.numel_;
    f.numel_ += (params[k].second.numel() + kAlign - 1) / kAlign * kAlign;
  }
  f.data_ = torch::zeros({f.numel_}, opts);
  f.grad_ = torch::zeros({f.numel_}, opts);
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor p = params[i].second;
    torch::Tensor view = f.View(f.data_, i);
    view.copy_(p);
    p.set_data(view);
    f.grad_views_.push_back(f.View(f.grad_, i));
    p.mutable_grad() = f.grad_views_.back();
  }
  return f;
}

torch::Tensor FlatParams::View(const torch::Tensor& flat, size_t i) const {
  const torch::Tensor& p = params_[i].second;
  return flat.narrow(0, offset_[i], p.numel()).view(p.sizes());
}

void FlatParams::MoveGradTo(const torch::Tensor& grad) {
  torch::NoGradGuard ng;
  grad.zero_();
  grad_ = grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    grad_views_[i] = View(grad_, i);
    params_[i].second.mutable_grad() = grad_views_[i];
  }
}

void FlatParams::ZeroGrad() {
  grad_.zero_();
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor p = params_[i].second;
    if (p.grad().unsafeGetTensorImpl() != grad_views_[i].unsafeGetTensorImpl())
      p.mutable_grad() = grad_views_[i];
  }
}

}  // namespace driftrun
