// CUDA histograms: a grid-stride walk over vectors of 4 elements (16-byte
// loads) when the buffer is aligned, else single elements (kmath::ColumnWalk:
// no division per element). When the counts fit, each block counts in shared
// memory with int32 atomics, in several copies (one per warp, up to what fits)
// so that warps do not contend for the same slots, with the bin edges in
// shared memory too; the copies are summed into the global histogram at the
// end. Otherwise counts go straight to global memory (int64 atomics).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/histogram.h"
#include "kernels/kernel_math.h"

namespace driftrun {
namespace {

constexpr int kThreads = 256;
constexpr size_t kSharedBytes = 48 * 1024;

template <int W>
struct alignas(sizeof(float) * W) Vec {
  float v[W];
};

// Calls visit(j, v) for each element v (of column j) that this thread walks:
// vectors of W elements, then the tail one element at a time (kmath::ColumnWalk).
template <int W, typename Visit>
__device__ __forceinline__ void ForEachElement(const float* x, int64_t total, int cols, Visit visit) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x, vectors = total / W;
  const auto* xv = reinterpret_cast<const Vec<W>*>(x);
  for (kmath::ColumnWalk w(t, threads, W, cols); w.vec < vectors; w.Advance(threads)) {
    const Vec<W> in = xv[w.vec];
    int j = w.col;
#pragma unroll
    for (int u = 0; u < W; ++u, j = w.Next(j)) visit(j, in.v[u]);
  }
  for (int64_t e = kmath::TailBegin(total, W) + t; e < total; e += threads)
    visit(static_cast<int>(e % cols), x[e]);
}

template <int W>
__global__ void HistSharedKernel(const float* x, int64_t total, int cols, const float* edges, int nedges,
                                 int copies, unsigned long long* counts) {
  extern __shared__ unsigned int local[];
  const int slots = nedges + 2, hist = cols * slots;
  auto* e_s = reinterpret_cast<float*>(local + copies * hist);
  for (int k = threadIdx.x; k < copies * hist; k += blockDim.x) local[k] = 0;
  for (int k = threadIdx.x; k < cols * nedges; k += blockDim.x) e_s[k] = edges[k];
  __syncthreads();
  unsigned int* mine = local + (threadIdx.x / 32 % copies) * hist;
  ForEachElement<W>(x, total, cols, [&](int j, float v) {
    atomicAdd(&mine[j * slots + kmath::BinOf(v, e_s + j * nedges, nedges)], 1u);
  });
  __syncthreads();
  for (int k = threadIdx.x; k < hist; k += blockDim.x) {
    unsigned long long sum = 0;
    for (int c = 0; c < copies; ++c) sum += local[c * hist + k];
    if (sum) atomicAdd(&counts[k], sum);
  }
}

template <int W>
__global__ void HistGlobalKernel(const float* x, int64_t total, int cols, const float* edges, int nedges,
                                 unsigned long long* counts) {
  const int slots = nedges + 2;
  ForEachElement<W>(x, total, cols, [&](int j, float v) {
    atomicAdd(&counts[j * slots + kmath::BinOf(v, edges + j * nedges, nedges)], 1ull);
  });
}

template <int W>
void Launch(const float* x, int64_t total, int cols, const float* edges, int nedges, unsigned long long* out,
            cudaStream_t stream) {
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t want = (total / W + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(want, sms * 8)));
  const size_t hist_bytes = static_cast<size_t>(cols) * (nedges + 2) * sizeof(unsigned int);
  const size_t edge_bytes = static_cast<size_t>(cols) * nedges * sizeof(float);
  if (hist_bytes + edge_bytes <= kSharedBytes) {
    const int copies =
        static_cast<int>(std::min<size_t>(kThreads / 32, (kSharedBytes - edge_bytes) / hist_bytes));
    HistSharedKernel<W><<<grid, kThreads, copies * hist_bytes + edge_bytes, stream>>>(x, total, cols, edges,
                                                                                      nedges, copies, out);
  } else {
    HistGlobalKernel<W><<<grid, kThreads, 0, stream>>>(x, total, cols, edges, nedges, out);
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
  auto* out = reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>());
  const float* xp = x.data_ptr<float>();
  if (reinterpret_cast<uintptr_t>(xp) % (4 * sizeof(float)) == 0) {
    Launch<4>(xp, total, static_cast<int>(cols), edges.data_ptr<float>(), static_cast<int>(nedges), out,
              stream);
  } else {
    Launch<1>(xp, total, static_cast<int>(cols), edges.data_ptr<float>(), static_cast<int>(nedges), out,
              stream);
  }
  KERNEL_LAUNCH_CHECK();
  return counts.cpu();
}

}  // namespace driftrun
