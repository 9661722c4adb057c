// One declarative description per model: the layer list that builds both the
// LibTorch module (trainers/spec_model.h) and the ONNX graph
// (export/onnx_export.h), so the two cannot disagree. Stored as JSON in every
// checkpoint (attribute model_spec). No LibTorch here.
//
// Parameters belong to the layers that have weights (linear, conv2d,
// embedding_bag), named "layers.<k>.weight" / "layers.<k>.bias" with k counting
// those layers in forward order, so MLP checkpoints keep the names they had.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace driftrun {

struct LayerSpec {
  // linear | conv2d | maxpool2d | flatten | reshape | relu | tanh | gelu | sigmoid |
  // dropout | embedding_bag (mean over the non-padding ids of each row)
  std::string op;
  int64_t in = 0, out = 0;      // linear, conv2d (channels), embedding_bag (rows, dim)
  int64_t kernel = 0, pad = 0;  // conv2d, maxpool2d (stride = kernel)
  double p = 0;                 // dropout
  std::vector<int64_t> shape;   // reshape: per-sample target shape
  int64_t param = -1;           // k in "layers.<k>" for layers with weights
};

struct ModelSpec {
  std::string kind = "mlp";         // mlp | cnn | text
  std::string task = "regression";  // regression | classification
  // Raw per-sample input: [D] features (mlp), [C, H, W] image (cnn, flattened to
  // C*H*W features for preprocessing), [L] hashed n-gram ids (text).
  std::vector<int64_t> input;
  int64_t out = 1;
  int64_t pad_id = -1;  // text: the padding id (= buckets), whose embedding is zero
  // text: how strings become ids (kernels/text_math.h); with pad_id (= buckets)
  // and input[0] (ids per row) everything a serving side needs to reproduce
  // them (scripts/text_ids.py). 0: not recorded (older checkpoints).
  int word_ngrams = 0;
  int char_ngrams = 0;
  std::vector<LayerSpec> layers;

  int64_t input_width() const;  // product of input
  // (name, shape) of every parameter in forward order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> Params() const;
  std::string ToJson() const;
  static Result<ModelSpec> FromJson(const std::string& text);
};

struct ModelOptions {
  std::string kind = "mlp";
  std::string task = "regression";
  std::vector<int64_t> hidden;
  std::string activation = "relu";
  double dropout = 0;
  std::vector<int64_t> channels;  // cnn: conv channels, each conv → act → 2x2 max pool
  int64_t kernel = 3;             // cnn: conv kernel size (padding keeps H and W)
  int64_t embedding_dim = 64;     // text
  int64_t buckets = 0;            // text: hashed n-gram buckets
};

// The spec for `input` (see ModelSpec::input) and `out` outputs. Status::Usage
// when the options do not fit the input (e.g. too many pools for the image).
Result<ModelSpec> BuildModelSpec(const ModelOptions& o, const std::vector<int64_t>& input, int64_t out);

}  // namespace driftrun
