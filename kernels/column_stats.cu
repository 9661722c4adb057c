// CUDA column statistics: one thread per (block of kStatsBlockRows rows, column),
// columns fastest so neighbouring threads read neighbouring floats of a row;
// partials are merged on the host in block order, exactly as on the CPU.
#include <ATen/cuda/CUDAContext.h>

#include "kernels/column_stats.h"
#include "kernels/cuda_check.h"

namespace driftrun {
namespace {

__global__ void BlockMomentsKernel(const float* x, int64_t rows, int64_t cols, kmath::Moments* partial) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t blocks = (rows + kStatsBlockRows - 1) / kStatsBlockRows;
  if (t >= blocks * cols) return;
  const int64_t b = t / cols, j = t % cols;
  const int64_t r0 = b * kStatsBlockRows;
  const int64_t n = rows - r0 < kStatsBlockRows ? rows - r0 : kStatsBlockRows;
  partial[t] = kmath::BlockMoments(x + r0 * cols + j, n, cols);
}

}  // namespace

Result<std::vector<kmath::Moments>> ColumnStatsCuda(const at::Tensor& xin) {
  at::Tensor x = xin.contiguous();
  const int64_t rows = x.size(0), cols = x.size(1);
  const int64_t blocks = (rows + kStatsBlockRows - 1) / kStatsBlockRows;
  std::vector<kmath::Moments> out(static_cast<size_t>(cols));
  if (rows == 0 || cols == 0) return out;
  const int64_t n = blocks * cols;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream(x.get_device()).stream();
  kmath::Moments* d_partial = nullptr;
  KERNEL_CUDA_CHECK(cudaMallocAsync(&d_partial, n * sizeof(kmath::Moments), stream));
  const int threads = 128;
  BlockMomentsKernel<<<static_cast<unsigned>((n + threads - 1) / threads), threads, 0, stream>>>(
      x.data_ptr<float>(), rows, cols, d_partial);
  cudaError_t launch = cudaGetLastError();
  std::vector<kmath::Moments> partial(static_cast<size_t>(n));
  cudaError_t copy = launch == cudaSuccess
                         ? cudaMemcpyAsync(partial.data(), d_partial, n * sizeof(kmath::Moments),
                                           cudaMemcpyDeviceToHost, stream)
                         : launch;
  cudaError_t sync = copy == cudaSuccess ? cudaStreamSynchronize(stream) : copy;
  cudaFreeAsync(d_partial, stream);
  KERNEL_CUDA_CHECK(sync);
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t j = 0; j < cols; ++j) out[j].Merge(partial[b * cols + j]);
  }
  return out;
}

}  // namespace driftrun
