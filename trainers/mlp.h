// The MLP for tabular data: Linear → activation → dropout per hidden layer, then a
// Linear head. Parameter names are "layers.<i>.weight" / "layers.<i>.bias" in
// forward order; checkpoints and the PyTorch cross-check key on them.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace driftrun {

struct MlpSpec {
  int64_t in = 0;
  int64_t out = 1;
  std::vector<int64_t> hidden;
  std::string activation = "relu";  // relu | tanh | gelu | sigmoid
  double dropout = 0.0;
};

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const MlpSpec& spec);
  torch::Tensor forward(torch::Tensor x);
  const MlpSpec& spec() const { return spec_; }

 private:
  MlpSpec spec_;
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(Mlp);

}  // namespace driftrun
