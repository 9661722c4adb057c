#include "trainers/spec_model.h"

#include <map>

#include "dataio/sharding.h"

namespace driftrun {
namespace {

constexpr int64_t kLow32 = 0xFFFFFFFFLL;

// A 32-bit integer hash (two multiply-xorshift rounds) on int64 tensors whose
// values are below 2^32: every product stays below 2^59, so no overflow.
torch::Tensor Hash32(torch::Tensor x) {
  for (int i = 0; i < 2; ++i)
    x = torch::bitwise_and(torch::bitwise_xor(x, torch::bitwise_right_shift(x, 16)) * 0x45d9f3b, kLow32);
  return torch::bitwise_xor(x, torch::bitwise_right_shift(x, 16));
}

}  // namespace

torch::Tensor DropoutKeys(const torch::Tensor& rows, uint64_t seed, int64_t step) {
  const int64_t salt = static_cast<int64_t>(MixSeed(seed, static_cast<uint64_t>(step), 0xd509) & kLow32);
  return Hash32(torch::bitwise_xor(torch::bitwise_and(rows, kLow32), salt));
}

torch::Tensor SpecModelImpl::Dropout(const torch::Tensor& x, double p, int64_t layer) const {
  if (!is_training() || p <= 0) return x;
  if (!dropout_keys_.defined()) return torch::dropout(x, p, true);
  const int64_t n = x.size(0), per_row = x.numel() / std::max<int64_t>(1, n);
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  torch::Tensor col = Hash32(
      torch::bitwise_and(torch::arange(per_row, opts) * 0x9E3779B1LL + (layer + 1) * 0x85EBCA6BLL, kLow32));
  torch::Tensor u = Hash32(torch::bitwise_xor(dropout_keys_.view({n, 1}), col.view({1, per_row})));
  // keep with probability 1 - p; kept values scaled by 1 / (1 - p), as torch::dropout
  torch::Tensor keep = (u.to(torch::kDouble) >= p * 4294967296.0).view(x.sizes());
  return x * keep.to(x.scalar_type()) * (1.0 / (1.0 - p));
}

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

Status LoadParameters(torch::nn::Module& module, const std::vector<NamedArray>& arrays) {
  torch::NoGradGuard ng;
  std::map<std::string, const NamedArray*> by_name;
  for (const auto& a : arrays) by_name[a.name] = &a;
  for (auto& p : module.named_parameters()) {
    auto it = by_name.find(p.key());
    if (it == by_name.end()) return Status::Data("checkpoint has no weights for '" + p.key() + "'");
    const NamedArray& a = *it->second;
    torch::Tensor t = torch::from_blob(const_cast<float*>(a.data.data()), a.dims, torch::kFloat);
    if (!t.sizes().equals(p.value().sizes())) {
      return Status::Data("checkpoint weights '" + p.key() +
                          "' have another shape; the model config changed");
    }
    p.value().copy_(t);
  }
  return Status::Ok();
}

torch::Tensor SpecModelImpl::forward(torch::Tensor x) {
  // Inference (eval mode or no autograd) computes the same values with less
  // memory traffic: activations in place on tensors this forward made, and a
  // 2x2 max pool as three elementwise maxima (PyTorch's CPU max_pool2d is several
  // times slower at these small spatial sizes). Training keeps the autograd ops.
  const bool infer = !is_training() || !torch::GradMode::is_enabled();
  bool owned = false;  // x is a tensor made here (not the caller's input or a view of it)
  auto act = [&](torch::Tensor (*op)(const torch::Tensor&), torch::Tensor& (*inplace)(torch::Tensor&)) {
    if (infer && owned) return inplace(x);
    owned = true;
    return op(x);
  };
  int64_t dropouts = 0;
  for (const auto& l : spec_.layers) {
    if (l.op == "linear") {
      x = layers_[l.param]->as<torch::nn::Linear>()->forward(x);
      owned = true;
    } else if (l.op == "conv2d") {
      x = layers_[l.param]->as<torch::nn::Conv2d>()->forward(x);
      owned = true;
    } else if (l.op == "embedding_bag") {
      x = layers_[l.param]->as<torch::nn::EmbeddingBag>()->forward(x);
      owned = true;
    } else if (l.op == "relu") {
      x = act(torch::relu, torch::relu_);
    } else if (l.op == "tanh") {
      x = act(torch::tanh, torch::tanh_);
    } else if (l.op == "gelu") {
      x = owned && infer ? torch::gelu_(x) : torch::gelu(x);
      owned = true;
    } else if (l.op == "sigmoid") {
      x = act(torch::sigmoid, torch::sigmoid_);
    } else if (l.op == "dropout") {
      x = Dropout(x, l.p, dropouts++);
    } else if (l.op == "maxpool2d") {
      using torch::indexing::Slice;
      if (infer && l.kernel == 2 && x.size(2) % 2 == 0 && x.size(3) % 2 == 0) {
        const auto r0 = Slice(0, torch::indexing::None, 2), r1 = Slice(1, torch::indexing::None, 2);
        x = torch::maximum(
            torch::maximum(x.index({Slice(), Slice(), r0, r0}), x.index({Slice(), Slice(), r0, r1})),
            torch::maximum(x.index({Slice(), Slice(), r1, r0}), x.index({Slice(), Slice(), r1, r1})));
      } else {
        x = torch::max_pool2d(x, {l.kernel, l.kernel});
      }
      owned = true;
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
