#include "trainers/direct_mlp.h"

#include <map>
#include <string>

namespace driftrun {

std::unique_ptr<DirectMlp> DirectMlp::Make(const ModelSpec& spec, const FlatParams& flat,
                                           bool classification) {
  if (spec.input.size() != 1) return nullptr;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < flat.size(); ++i) index[flat.name(i)] = i;
  std::vector<Op> ops;
  size_t linears = 0;
  for (const LayerSpec& l : spec.layers) {
    if (l.op == "linear") {
      const std::string k = "layers." + std::to_string(l.param);
      auto w = index.find(k + ".weight"), b = index.find(k + ".bias");
      if (w == index.end() || b == index.end()) return nullptr;
      ops.push_back({Kind::kLinear, w->second, b->second});
      ++linears;
    } else if (l.op == "relu") {
      ops.push_back({Kind::kRelu});
    } else if (l.op == "tanh") {
      ops.push_back({Kind::kTanh});
    } else if (l.op == "sigmoid") {
      ops.push_back({Kind::kSigmoid});
    } else if (l.op == "gelu") {
      ops.push_back({Kind::kGelu});
    } else if ((l.op == "dropout" && l.p == 0) || l.op == "flatten") {
      continue;  // identities on [N, D]
    } else {
      return nullptr;
    }
  }
  // Every parameter must get its gradient here (none left at a stale value).
  if (linears == 0 || 2 * linears != flat.size()) return nullptr;
  auto d = std::unique_ptr<DirectMlp>(new DirectMlp(flat, std::move(ops), classification));
  while (d->ops_[d->first_linear_].kind != Kind::kLinear) ++d->first_linear_;
  return d;
}

torch::Tensor DirectMlp::LossGrad(const torch::Tensor& pred, const torch::Tensor& y, double denom,
                                  torch::Tensor* loss_sum) {
  // loss = loss_sum / denom: autograd seeds backward with ones and divides.
  if (!scale_.defined() || scale_denom_ != denom || scale_.device() != pred.device()) {
    scale_ = torch::ones({}, pred.options()) / denom;
    scale_denom_ = denom;
  }
  const int64_t sum = at::Reduction::Sum;
  if (!classification_) {
    *loss_sum = at::mse_loss(pred, y, sum);
    return at::mse_loss_backward(scale_, pred, y, sum);
  }
  // cross_entropy_loss = nll_loss(log_softmax(pred)) with its defaults.
  constexpr int64_t kIgnoreIndex = -100;
  torch::Tensor logp = at::_log_softmax(pred, 1, false);
  auto [loss, total_weight] = at::nll_loss_forward(logp, y, {}, sum, kIgnoreIndex);
  *loss_sum = loss;
  torch::Tensor g = at::nll_loss_backward(scale_, logp, y, {}, sum, kIgnoreIndex, total_weight);
  return at::_log_softmax_backward_data(g, logp, 1, pred.scalar_type());
}

torch::Tensor DirectMlp::Step(const torch::Tensor& x, const torch::Tensor& y, double denom,
                              const std::function<void(size_t)>& on_grad) {
  torch::NoGradGuard no_grad;
  acts_.resize(ops_.size() + 1);
  acts_[0] = x.dim() == 2 ? x : x.flatten(1);
  for (size_t k = 0; k < ops_.size(); ++k) {
    const Op& op = ops_[k];
    const torch::Tensor& in = acts_[k];
    switch (op.kind) {
      case Kind::kLinear:  // at::linear on 2-d input with a bias
        acts_[k + 1] = at::addmm(flat_.param(op.bias), in, flat_.param(op.weight).t());
        break;
      // In place on a layer's output (the same values): their backward needs
      // only the result, and a linear's backward does not need its output.
      case Kind::kRelu: acts_[k + 1] = Owned(k) ? at::relu_(acts_[k]) : at::relu(in); break;
      case Kind::kTanh: acts_[k + 1] = Owned(k) ? at::tanh_(acts_[k]) : at::tanh(in); break;
      case Kind::kSigmoid: acts_[k + 1] = Owned(k) ? at::sigmoid_(acts_[k]) : at::sigmoid(in); break;
      case Kind::kGelu: acts_[k + 1] = at::gelu(in); break;
    }
  }
  torch::Tensor loss_sum;
  torch::Tensor g = LossGrad(acts_.back(), y, denom, &loss_sum);
  const torch::Tensor& grad = flat_.grad();
  for (size_t k = ops_.size(); k-- > 0;) {
    const Op& op = ops_[k];
    const torch::Tensor &in = acts_[k], &out = acts_[k + 1];
    switch (op.kind) {
      case Kind::kLinear: {
        // AddmmBackward0 with mat2 = weight.t() (column-major): the weight's
        // gradient is grad.t().mm(input); the bias's the batch sum.
        torch::Tensor gw = flat_.View(grad, op.weight), gb = flat_.View(grad, op.bias);
        at::mm_out(gw, g.t(), in);
        at::sum_out(gb, g, {0});
        if (on_grad) {
          on_grad(op.bias);
          on_grad(op.weight);
        }
        if (k == first_linear_) return Finish(loss_sum);  // the input needs no gradient
        g = at::mm(g, flat_.param(op.weight));
        break;
      }
      // In place: g is always a tensor made in this step.
      case Kind::kRelu: at::threshold_backward_out(g, g, out, 0); break;
      case Kind::kTanh: at::tanh_backward_out(g, g, out); break;
      case Kind::kSigmoid: at::sigmoid_backward_out(g, g, out); break;
      case Kind::kGelu: at::gelu_backward_out(g, g, in); break;
    }
  }
  return Finish(loss_sum);
}

std::vector<size_t> DirectMlp::GradOrder() const {
  std::vector<size_t> order;
  for (size_t k = ops_.size(); k-- > 0;) {
    if (ops_[k].kind != Kind::kLinear) continue;
    order.push_back(ops_[k].bias);
    order.push_back(ops_[k].weight);
  }
  return order;
}

bool DirectMlp::Owned(size_t k) const {
  return k > 0 && ops_[k - 1].kind == Kind::kLinear;
}

torch::Tensor DirectMlp::Finish(const torch::Tensor& loss_sum) {
  for (auto& a : acts_) a.reset();
  return loss_sum;
}

}  // namespace driftrun
