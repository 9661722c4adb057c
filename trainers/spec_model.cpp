#include "trainers/spec_model.h"

namespace driftrun {

SpecModelImpl::SpecModelImpl(const ModelSpec& spec) : spec_(spec) {
  for (const auto& l : spec.layers) {
    if (l.op == "linear") {
      layers_->push_back(torch::nn::Linear(l.in, l.out));
    } else if (l.op == "conv2d") {
      layers_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(l.in, l.out, l.kernel).padding(l.pad)));
    } else if (l.op == "embedding_bag") {
      layers_->push_back(torch::nn::EmbeddingBag(
          torch::nn::EmbeddingBagOptions(l.in, l.out).mode(torch::kMean).padding_idx(spec.pad_id)));
    }
  }
  register_module("layers", layers_);
}

torch::Tensor SpecModelImpl::forward(torch::Tensor x) {
  for (const auto& l : spec_.layers) {
    if (l.op == "linear") {
      x = layers_[l.param]->as<torch::nn::Linear>()->forward(x);
    } else if (l.op == "conv2d") {
      x = layers_[l.param]->as<torch::nn::Conv2d>()->forward(x);
    } else if (l.op == "embedding_bag") {
      x = layers_[l.param]->as<torch::nn::EmbeddingBag>()->forward(x);
    } else if (l.op == "relu") {
      x = torch::relu(x);
    } else if (l.op == "tanh") {
      x = torch::tanh(x);
    } else if (l.op == "gelu") {
      x = torch::gelu(x);
    } else if (l.op == "sigmoid") {
      x = torch::sigmoid(x);
    } else if (l.op == "dropout") {
      x = torch::dropout(x, l.p, is_training());
    } else if (l.op == "maxpool2d") {
      x = torch::max_pool2d(x, {l.kernel, l.kernel});
    } else if (l.op == "flatten") {
      x = x.flatten(1);
    } else if (l.op == "reshape") {
      std::vector<int64_t> shape = {x.size(0)};
      shape.insert(shape.end(), l.shape.begin(), l.shape.end());
      x = x.reshape(shape);
    }
  }
  return x;
}

}  // namespace driftrun
