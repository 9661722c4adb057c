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
  // Training: int64 [N] keys, one per row of the next forward (DropoutKeys).
  // Each dropout mask element is a hash of its row's key, the dropout layer
  // and the element's position, so a sample's mask does not depend on which
  // rank or batch slot trains it: results do not depend on the rank count.
  // Undefined (the default): torch::dropout's generator.
  void set_dropout_keys(torch::Tensor keys) { dropout_keys_ = std::move(keys); }

 private:
  torch::Tensor Dropout(const torch::Tensor& x, double p, int64_t layer) const;
  ModelSpec spec_;
  torch::Tensor dropout_keys_;
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(SpecModel);

// Per-row dropout keys for a training step: a 32-bit hash of the row's index
// in the data file (`rows`, int64 on the model's device) and of (seed, step).
torch::Tensor DropoutKeys(const torch::Tensor& rows, uint64_t seed, int64_t step);

// Copies checkpoint weights into the module's parameters by name; a missing
// name or another shape is Status::Data (the model config changed).
Status LoadParameters(torch::nn::Module& module, const std::vector<NamedArray>& arrays);

}  // namespace driftrun
