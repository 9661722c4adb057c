// The fused preprocessing transform, one pass over the data:
//   impute (missing or +-Inf → fill) → shift and scale (standardize or min-max)
//   → clip to [lo, hi] → float32 or bfloat16 output,
// with per-column parameters (kmath::ColumnTransform) and a report of how many
// values were imputed and clipped per column.
//
// MakeTransform derives the parameters from column statistics and options;
// constant columns (zero spread) are not scaled and all-missing columns are
// filled with the constant fill (0 by default), so no division by zero happens;
// each such decision is written to `notes`.
// Thread-safe. Errors: shapes or dtypes that do not fit are Status::Data.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/kernel_math.h"

namespace driftrun {

struct ColumnTransformOptions {
  std::string impute = "mean";     // mean | median | zero | constant
  double fill_value = 0.0;         // for impute = constant
  std::string scale = "standard";  // standard | minmax | none
  double clip_sigma = 0.0;         // > 0: clip to +-clip_sigma after standard scaling
};

// median: the per-column medians (NaN where unknown); used for impute = median.
std::vector<kmath::ColumnTransform> MakeTransform(const std::vector<kmath::Moments>& stats,
                                                  const std::vector<double>& median,
                                                  const std::vector<ColumnTransformOptions>& opts,
                                                  const std::vector<std::string>& names,
                                                  std::vector<std::string>* notes);

// Warnings for columns whose spread is set by a few far values (one value
// of 3e38 among thousands): the farthest value is over max(10, sqrt(n)/2)
// standard deviations from the mean, which only a handful of points that
// dominate the variance reach; standard scaling then squeezes every other
// value of the column near 0.
std::vector<std::string> OutlierWarnings(const std::vector<kmath::Moments>& stats,
                                         const std::vector<std::string>& names);

struct TransformReport {
  std::vector<int64_t> imputed;
  std::vector<int64_t> clipped;
};

// x float32 [rows, D]; *out becomes float32 (or bfloat16 when bf16) on x's
// device; on the CPU an already allocated float32 *out of x's shape is reused.
Result<TransformReport> FusedTransform(const at::Tensor& x, const std::vector<kmath::ColumnTransform>& params,
                                       bool bf16, at::Tensor* out);

// CPU reference on raw memory (float32 output).
void FusedTransformCpu(const float* x, int64_t rows, int64_t cols, const kmath::ColumnTransform* params,
                       float* out, int64_t* imputed, int64_t* clipped);
Result<TransformReport> FusedTransformCuda(const at::Tensor& x,
                                           const std::vector<kmath::ColumnTransform>& params, bool bf16,
                                           at::Tensor* out);

}  // namespace driftrun
