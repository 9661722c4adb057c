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
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "kernels/kernel_math.h"
#include "kernels/transform.h"
#include "trainers/communicator.h"
#include "trainers/tabular_data.h"

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

struct Preprocessor {
  std::vector<kmath::ColumnTransform> params;
  bool bf16 = false;
  std::vector<std::string> notes;  // what was done ("column f3 is constant: ...")

  int64_t dim() const { return static_cast<int64_t>(params.size()); }
  // The fused transform on x (float32 [rows, dim], CPU or CUDA); float32 result,
  // or bfloat16 when bf16.
  Result<at::Tensor> Apply(const at::Tensor& x, TransformReport* report = nullptr) const;
};

class H5Writer;
class H5Reader;
// The parameters as HDF5 arrays <group>/{fill,shift,scale,lo,hi} [D] and the
// attribute bf16; used by checkpoints and `driftrun preprocess`.
Status WritePreprocessor(H5Writer& w, const std::string& group, const Preprocessor& pre);
Result<Preprocessor> ReadPreprocessor(const H5Reader& r, const std::string& group, int64_t dim);

struct FitResult {
  Preprocessor pre;
  int64_t classes = 0;  // max(label)+1 for classification, else 0
};

// Collective. train_x: this rank's training rows (float32 [n, D]); cls: their
// class ids (classification) or empty. A column with no values in any rank's
// rows is Status::Data naming it.
Result<FitResult> FitPreprocessor(Communicator& comm, const at::Tensor& train_x,
                                  const std::vector<int64_t>& cls, const TabularSpec& spec,
                                  const TabularMeta& meta, const PreprocessOptions& opts);

}  // namespace driftrun
