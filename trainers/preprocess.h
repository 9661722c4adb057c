// Feature preprocessing fitted on the training data, computed by the kernels:
// impute missing (NaN) and +-Inf values, scale (standard, min-max or none),
// optionally clip, per column. The fitted parameters are part of the model:
// saved in every checkpoint and applied identically at inference.
//
// Fit is collective: each rank computes column statistics of its training rows
// (kernels/column_stats.h, on the rows' device), the ranks merge them exactly
// (trainers/distributed_stats.h), and medians come from a merged fine histogram.
// So the result does not depend on the number of ranks beyond double rounding.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/config.h"
#include "common/status.h"
#include "dataio/tabular_data.h"
#include "kernels/kernel_math.h"
#include "kernels/transform.h"
#include "models/preprocess_params.h"

namespace driftrun {

struct PreprocessOptions {
  ColumnTransformOptions defaults;
  std::vector<std::string> columns;  // overrides "NAME:key=value"
  bool bf16 = false;

  static Result<PreprocessOptions> FromConfig(const Config& cfg);
  // Options for each named column; an override naming an unknown column or key
  // is Status::Usage.
  Result<std::vector<ColumnTransformOptions>> PerColumn(const std::vector<std::string>& names) const;
};

// The fused transform on x (float32 [rows, dim], CPU or CUDA); float32 result,
// or bfloat16 when pre.bf16.
Result<at::Tensor> ApplyPreprocessor(const Preprocessor& pre, const at::Tensor& x,
                                     TransformReport* report = nullptr);

struct FitResult {
  Preprocessor pre;
  int64_t classes = 0;                // max(label)+1 for classification, else 0
  std::vector<std::string> warnings;  // OutlierWarnings (also in pre.notes)
};

// Collective. train_x: this rank's training rows (float32 [n, D]); cls: their
// class ids (classification) or empty. A column with no values in any rank's
// rows is Status::Data naming it.
Result<FitResult> FitPreprocessor(Communicator& comm, const at::Tensor& train_x,
                                  const std::vector<int64_t>& cls, const TabularSpec& spec,
                                  const TabularMeta& meta, const PreprocessOptions& opts);

// The same over rows that come in pieces (a streamed shard): `pass` calls its
// visitor with each piece of this rank's training rows (float32 [n_i, D]) and
// may be called twice (the median needs a second pass). The statistics are
// merged exactly (Chan), so the fit does not depend on how the rows are cut.
using ChunkVisitor = std::function<Status(const at::Tensor& x)>;
using ChunkPass = std::function<Status(const ChunkVisitor& visit)>;
Result<FitResult> FitPreprocessorChunked(Communicator& comm, const ChunkPass& pass,
                                         const std::vector<int64_t>& cls, const TabularSpec& spec,
                                         const TabularMeta& meta, const PreprocessOptions& opts);

}  // namespace driftrun
