// Column statistics in one op: per column, non-missing count, mean, M2 (sum of
// squared deviations), min, max and the number of +-Inf values, for float32
// [rows, columns] data on the CPU or a CUDA device.
//
// Rows are cut into fixed blocks of kStatsBlockRows; each (block, column) is
// reduced by kmath::BlockMoments and the blocks are merged in order with Chan's
// formula, so the result does not depend on threads, and partial results of
// ranks merge exactly (trainers/distributed_stats.h).
// Failure: a tensor that is not float32 2-D is Status::Data; a CUDA error is
// Status::Infra. Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "common/status.h"
#include "kernels/kernel_math.h"

namespace driftrun {

constexpr int64_t kStatsBlockRows = 1024;

Result<std::vector<kmath::Moments>> ColumnStats(const at::Tensor& x);

// The CPU reference on raw memory (also what the CPU path of ColumnStats runs).
std::vector<kmath::Moments> ColumnStatsCpu(const float* x, int64_t rows, int64_t cols);
// The CUDA version: x on a CUDA device; a stub that fails in builds without CUDA.
Result<std::vector<kmath::Moments>> ColumnStatsCuda(const at::Tensor& x);

// Checks that x is a 2-D float32 tensor; names `what` otherwise.
Status CheckFeatures(const at::Tensor& x, const char* what);

}  // namespace driftrun
