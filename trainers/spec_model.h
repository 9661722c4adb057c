// The LibTorch module built from a ModelSpec (models/model_spec.h): layers with
// weights live in the ModuleList "layers", so parameters are named
// "layers.<k>.weight" / "layers.<k>.bias" exactly as ModelSpec::Params() lists
// them; checkpoints and the ONNX exporter key on these names.
#pragma once

#include <torch/torch.h>

#include "models/checkpoint.h"
#include "models/model_spec.h"

namespace driftrun {

class SpecModelImpl : public torch::nn::Module {
 public:
  explicit SpecModelImpl(const ModelSpec& spec);
  // x: float [N, input_width] preprocessed features (mlp, cnn) or int64 [N, L]
  // n-gram ids padded with spec.pad_id (text). Returns [N, out] (logits for
  // classification).
  torch::Tensor forward(torch::Tensor x);
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(SpecModel);

// Copies checkpoint weights into the module's parameters by name; a missing
// name or another shape is Status::Data (the model config changed).
Status LoadParameters(torch::nn::Module& module, const std::vector<NamedArray>& arrays);

}  // namespace driftrun
