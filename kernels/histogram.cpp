#include "kernels/histogram.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <mutex>
#include <vector>

#include "kernels/column_stats.h"
#include "kernels/kernel_math.h"

namespace driftrun {

void HistogramsCpu(const float* x, int64_t rows, int64_t cols, const float* edges, int64_t nedges,
                   int64_t* counts) {
  const int64_t slots = nedges + 2;
  std::mutex mu;
  // One local histogram per task (a range of rows), merged under a lock: counts
  // are integers, so the order of merging does not matter.
  at::parallel_for(0, rows, 16384, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> local(static_cast<size_t>(cols * slots), 0);
    for (int64_t i = r0; i < r1; ++i) {
      const float* row = x + i * cols;
      for (int64_t j = 0; j < cols; ++j) {
        ++local[j * slots + kmath::BinOf(row[j], edges + j * nedges, static_cast<int>(nedges))];
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (size_t k = 0; k < local.size(); ++k) counts[k] += local[k];
  });
}

Result<at::Tensor> Histograms(const at::Tensor& x, const at::Tensor& edges) {
  DRIFTRUN_RETURN_IF_ERROR(CheckFeatures(x, "histograms"));
  if (edges.dim() != 2 || edges.size(0) != x.size(1) || edges.size(1) < 1 ||
      edges.scalar_type() != at::kFloat) {
    return Status::Data("histograms expect float32 edges [columns, E >= 1] matching the data's columns");
  }
  if (x.is_cuda()) return HistogramsCuda(x, edges.to(x.device()).contiguous());
  at::Tensor c = x.contiguous(), e = edges.contiguous();
  at::Tensor counts = at::zeros({x.size(1), edges.size(1) + 2}, at::kLong);
  HistogramsCpu(c.data_ptr<float>(), c.size(0), c.size(1), e.data_ptr<float>(), e.size(1),
                counts.data_ptr<int64_t>());
  return counts;
}

Result<at::Tensor> CategoryCounts(const at::Tensor& indices, int64_t categories) {
  if (indices.dim() != 2 || indices.scalar_type() != at::kLong || categories < 1) {
    return Status::Data("category counts expect int64 indices [rows, columns] and at least one category");
  }
  at::Tensor idx = indices.contiguous();
  if (idx.numel() > 0) {
    const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    if (lo < 0 || hi >= categories) {
      return Status::Data("category index outside [0, " + std::to_string(categories) + ")");
    }
  }
  // Offset each column's indices into its own range, then one bincount.
  const int64_t cols = idx.size(1);
  at::Tensor offsets = at::arange(cols, idx.options()) * categories;
  at::Tensor flat = (idx + offsets.unsqueeze(0)).reshape({-1});
  return at::bincount(flat, {}, cols * categories).reshape({cols, categories}).to(at::kCPU);
}

}  // namespace driftrun
