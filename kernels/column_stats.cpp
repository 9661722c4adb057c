#include "kernels/column_stats.h"

#include <ATen/Parallel.h>

namespace driftrun {

Status CheckFeatures(const at::Tensor& x, const char* what) {
  if (x.dim() != 2 || x.scalar_type() != at::kFloat) {
    return Status::Data(std::string(what) + " expects float32 [rows, columns] features");
  }
  return Status::Ok();
}

std::vector<kmath::Moments> ColumnStatsCpu(const float* x, int64_t rows, int64_t cols) {
  const int64_t blocks = (rows + kStatsBlockRows - 1) / kStatsBlockRows;
  std::vector<kmath::Moments> partial(static_cast<size_t>(blocks * cols));
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kStatsBlockRows;
      const int64_t n = std::min(kStatsBlockRows, rows - r0);
      for (int64_t j = 0; j < cols; ++j) {
        partial[b * cols + j] = kmath::BlockMoments(x + r0 * cols + j, n, cols);
      }
    }
  });
  std::vector<kmath::Moments> out(static_cast<size_t>(cols));
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t j = 0; j < cols; ++j) out[j].Merge(partial[b * cols + j]);
  }
  return out;
}

Result<std::vector<kmath::Moments>> ColumnStats(const at::Tensor& x) {
  DRIFTRUN_RETURN_IF_ERROR(CheckFeatures(x, "column statistics"));
  if (x.is_cuda()) return ColumnStatsCuda(x);
  at::Tensor c = x.contiguous();
  return ColumnStatsCpu(c.data_ptr<float>(), c.size(0), c.size(1));
}

}  // namespace driftrun
