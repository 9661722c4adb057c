// Histograms per column over given bin edges, and category counts.
//
// Histogram: x float32 [rows, columns], edges float32 [columns, E] (each row
// sorted ascending). Returns int64 [columns, E + 2] counts: slot 0 is v <= e_0,
// slot k (1..E-1) is e_{k-1} < v <= e_k, slot E is v > e_{E-1}, slot E + 1 is
// missing (NaN or +-Inf), as kmath::BinOf. Counts are integers, so CPU blocks,
// GPU atomics and ranks (sums) merge exactly.
// CategoryCounts: int64 indices [rows, columns] in [0, K) → int64 [columns, K];
// an index outside [0, K) is Status::Data.
// The result is on the CPU. Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include "common/status.h"

namespace driftrun {

Result<at::Tensor> Histograms(const at::Tensor& x, const at::Tensor& edges);
Result<at::Tensor> CategoryCounts(const at::Tensor& indices, int64_t categories);

// CPU reference on raw memory; counts is [cols, E + 2], zeroed by the caller.
void HistogramsCpu(const float* x, int64_t rows, int64_t cols, const float* edges, int64_t nedges,
                   int64_t* counts);
Result<at::Tensor> HistogramsCuda(const at::Tensor& x, const at::Tensor& edges);

}  // namespace driftrun
