// CUDA histograms: a grid-stride loop over elements; counts go to a
// shared-memory histogram when all columns' slots fit (int32 atomics), else
// straight to global memory (int64 atomics); per-block shared counts are added to
// the global histogram at the end.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include "kernels/cuda_check.h"
#include "kernels/histogram.h"
#include "kernels/kernel_math.h"

namespace driftrun {
namespace {

__global__ void HistSharedKernel(const float* x, int64_t total, int64_t cols, const float* edges, int nedges,
                                 unsigned long long* counts) {
  extern __shared__ unsigned int local[];
  const int slots = nedges + 2;
  for (int k = threadIdx.x; k < cols * slots; k += blockDim.x) local[k] = 0;
  __syncthreads();
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % cols;
    atomicAdd(&local[j * slots + kmath::BinOf(x[e], edges + j * nedges, nedges)], 1u);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < cols * slots; k += blockDim.x) {
    if (local[k]) atomicAdd(&counts[k], static_cast<unsigned long long>(local[k]));
  }
}

__global__ void HistGlobalKernel(const float* x, int64_t total, int64_t cols, const float* edges, int nedges,
                                 unsigned long long* counts) {
  const int slots = nedges + 2;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % cols;
    atomicAdd(&counts[j * slots + kmath::BinOf(x[e], edges + j * nedges, nedges)], 1ull);
  }
}

}  // namespace

Result<at::Tensor> HistogramsCuda(const at::Tensor& xin, const at::Tensor& edges) {
  at::Tensor x = xin.contiguous();
  const int64_t cols = x.size(1), nedges = edges.size(1), slots = nedges + 2;
  at::Tensor counts = at::zeros({cols, slots}, x.options().dtype(at::kLong));
  const int64_t total = x.numel();
  if (total == 0) return counts.cpu();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream(x.get_device()).stream();
  const int threads = 256;
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t want = (total + threads - 1) / threads;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(want, sms * 8));
  const size_t shared = static_cast<size_t>(cols * slots) * sizeof(unsigned int);
  auto* out = reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>());
  if (shared <= 48 * 1024) {
    HistSharedKernel<<<grid, threads, shared, stream>>>(
        x.data_ptr<float>(), total, cols, edges.data_ptr<float>(), static_cast<int>(nedges), out);
  } else {
    HistGlobalKernel<<<grid, threads, 0, stream>>>(x.data_ptr<float>(), total, cols, edges.data_ptr<float>(),
                                                   static_cast<int>(nedges), out);
  }
  KERNEL_LAUNCH_CHECK();
  return counts.cpu();
}

}  // namespace driftrun
