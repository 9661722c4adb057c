// Inference with LibTorch on raw inputs: the checkpoint's model (built from its
// ModelSpec) after its fitted preprocessing, or, for text, after hashing the
// strings into n-gram ids with the kernels. Writes an HDF5 file with
//   /prediction float32 [N, K]  regression values, or class probabilities
//   /label      int64 [N]       classification only
//   /input      int64 [N, L]    text only, with save_ids: the model's input ids
// matching the ONNX export's outputs (export/onnx_export.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "models/checkpoint.h"

namespace driftrun {

struct PredictRequest {
  const CheckpointState* checkpoint = nullptr;
  const Config* config = nullptr;  // the run's resolved config (dataset names, text options)
  std::string in, out;
  bool save_ids = false;
  std::string device = "cpu";  // cpu | cuda | auto
  int64_t batch = 8192;
};

struct PredictResult {
  int64_t rows = 0;
  double seconds = 0;  // model time (preprocessing + forward), not file I/O
  // For the console: columns taken by position, heavily imputed columns.
  std::vector<std::string> warnings;
  // Rows whose prediction rests on little or broken input, by kind (all of them
  // reported, zero or not, for the model's kind): tabular "all_missing" (no
  // finite feature) and "infinite_input" (an infinite value, or a float64 one
  // beyond float32's range: imputed like a missing one); text "empty" (no word), "truncated" (more n-grams
  // than the model's max_ids: the rest was ignored), "invalid_utf8"; and for every kind
  // "nonfinite_prediction" (a NaN or infinite output: inputs the model overflows on);
  // tabular also "far_outside_training" (a value over 1000 standard deviations
  // or min-max ranges from the training data after preprocessing).
  std::map<std::string, int64_t> suspect;
};

Result<PredictResult> Predict(const PredictRequest& req);

// The rows a training run held out, per file: all of data.val, else each
// data.train file's val_fraction split (dataio/tabular_set.h). Files without a
// held-out row are left out.
struct HoldoutPart {
  std::string path;
  std::vector<int64_t> rows;
};
Result<std::vector<HoldoutPart>> HoldoutRows(const Config& holdout_cfg);

// A model's mean loss (MSE per target for regression, cross-entropy for
// classification; the training loss) on the holdout rows that `holdout_cfg`
// defines: all of its data.val, else the val_fraction split of data.train that
// its training held out. model_cfg is the model's own resolved config (dataset
// names, text options). The promotion gate compares models on one holdout.
Result<double> HoldoutLoss(const CheckpointState& ck, const Config& model_cfg, const Config& holdout_cfg);

// The model's loss on each of `rows` of the HDF5 file `path` (dataset names
// from model_cfg; columns matched by name): the training loss per row (mean
// squared error over the targets, or cross-entropy), for the service's
// concept-drift check and its champion-vs-challenger comparison (paired
// bootstrap). Status::Data for a file the model cannot read.
Result<std::vector<double>> RowLosses(const CheckpointState& ck, const Config& model_cfg,
                                      const std::string& path, const std::vector<int64_t>& rows);

}  // namespace driftrun
