// ONNX export of a checkpoint: the model's layers from its ModelSpec (the same
// description the LibTorch module is built from), weights as initializers, the
// fitted preprocessing folded in as ONNX ops (impute NaN/+-Inf, shift, scale,
// clip), a dynamic batch dimension, pinned opset and IR version, and lineage in
// metadata_props. The result is checked with onnx::checker and shape inference
// before it is written (atomically).
//
// Graph contract: input "input" float32 [N, D] raw features (mlp), float32
// [N, C, H, W] raw images (cnn), or int64 [N, L] hashed n-gram ids padded with
// the spec's pad_id (text; see kernels/text_math.h); output "prediction" float32
// [N, K] (regression values, or class probabilities) and, for classification,
// "label" int64 [N].
//
// This unit uses the ONNX protobuf library and must not share a process with
// LibTorch (which ships its own protobuf): it is linked only into the
// driftrun-export executable.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "models/checkpoint.h"
#include "models/model_spec.h"

namespace driftrun {

constexpr int kOnnxOpset = 17;
constexpr int kOnnxIrVersion = 8;

// Serialized, checked ModelProto. Errors: Status::Data (the checkpoint does not
// match its model description, or the checker refuses the graph).
Result<std::string> BuildOnnx(const CheckpointState& ck, const std::map<std::string, std::string>& metadata,
                              const std::string& producer_version);

}  // namespace driftrun
