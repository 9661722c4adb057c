#include "trainers/mlp.h"

namespace driftrun {

MlpImpl::MlpImpl(const MlpSpec& spec) : spec_(spec) {
  int64_t width = spec.in;
  for (int64_t h : spec.hidden) {
    layers_->push_back(torch::nn::Linear(width, h));
    width = h;
  }
  layers_->push_back(torch::nn::Linear(width, spec.out));
  register_module("layers", layers_);
}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  const size_t n = layers_->size();
  for (size_t i = 0; i < n; ++i) {
    x = layers_[i]->as<torch::nn::Linear>()->forward(x);
    if (i + 1 == n) break;
    if (spec_.activation == "relu") {
      x = torch::relu(x);
    } else if (spec_.activation == "tanh") {
      x = torch::tanh(x);
    } else if (spec_.activation == "gelu") {
      x = torch::gelu(x);
    } else {
      x = torch::sigmoid(x);
    }
    if (spec_.dropout > 0) x = torch::dropout(x, spec_.dropout, is_training());
  }
  return x;
}

}  // namespace driftrun
