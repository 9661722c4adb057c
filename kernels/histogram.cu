// CUDA histograms. The fast path keeps each thread on the same columns for its
// whole grid-stride walk (the grid is sized so that threads * W is a multiple
// of the column count), so a thread holds its W columns' E edges in registers
// and counts, per edge, the finite values above it: a cumulative histogram,
// with no search and no atomics in the loop (E compares and adds per element).
// Bins are differences of those counts (edges are sorted), summed per block in
// shared memory, then into the global counts. Vectors of 4 elements (16-byte
// loads) when the buffer is aligned, else single elements.
// The general path (E > 16, or a column count the grid cannot divide) walks
// with kmath::ColumnWalk and counts with shared-memory atomics, one copy per
// warp where they fit, else global atomics.
// DRIFTRUN_HISTOGRAM_KERNEL=shared forces the general path (kernels_bench
// compares the two).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>

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

constexpr int kMaxRegisterEdges = 16;

template <int W, int E>
__global__ void __launch_bounds__(kThreads)
    HistRegisterKernel(const float* x, int64_t total, int cols, const float* edges,
                       unsigned long long* counts) {
  extern __shared__ unsigned long long block_counts[];  // [cols, E + 2]
  constexpr int kSlots = E + 2;
  for (int k = threadIdx.x; k < cols * kSlots; k += blockDim.x) block_counts[k] = 0;
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x, vectors = total / W;
  int col[W];
  float e[W][E];
  unsigned above[W][E], finite[W], missing[W];
  const int c0 = static_cast<int>((t * W) % cols);
#pragma unroll
  for (int u = 0; u < W; ++u) {
    col[u] = (c0 + u) % cols;
    finite[u] = missing[u] = 0;
#pragma unroll
    for (int k = 0; k < E; ++k) {
      e[u][k] = edges[col[u] * E + k];
      above[u][k] = 0;
    }
  }
  __syncthreads();
  const auto* xv = reinterpret_cast<const Vec<W>*>(x);
  for (int64_t i = t; i < vectors; i += threads) {
    const Vec<W> in = xv[i];
#pragma unroll
    for (int u = 0; u < W; ++u) {
      const bool f = kmath::IsFinite(in.v[u]);
      const float v = f ? in.v[u] : NAN;  // NaN compares above no edge
      finite[u] += f;
      missing[u] += !f;
#pragma unroll
      for (int k = 0; k < E; ++k) above[u][k] += e[u][k] < v;
    }
  }
  // Slot 0: finite values not above e_0; slot k: above e_{k-1}, not above e_k.
#pragma unroll
  for (int u = 0; u < W; ++u) {
    unsigned long long* h = block_counts + col[u] * kSlots;
    unsigned prev = finite[u];
#pragma unroll
    for (int k = 0; k < E; ++k) {
      if (prev - above[u][k]) atomicAdd(&h[k], static_cast<unsigned long long>(prev - above[u][k]));
      prev = above[u][k];
    }
    if (prev) atomicAdd(&h[E], static_cast<unsigned long long>(prev));
    if (missing[u]) atomicAdd(&h[E + 1], static_cast<unsigned long long>(missing[u]));
  }
  // The tail (fewer than W elements after the last whole vector).
  const int64_t tail = vectors * W + t;
  if (tail < total) {
    const int j = static_cast<int>(tail % cols);
    atomicAdd(&block_counts[j * kSlots + kmath::BinOf(x[tail], edges + j * E, E)], 1ull);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < cols * kSlots; k += blockDim.x) {
    if (block_counts[k]) atomicAdd(&counts[k], block_counts[k]);
  }
}

// Blocks for the register kernel: about 8 per SM, a multiple of the blocks
// after which the threads' columns repeat; 0 when that multiple is too large
// (each thread would walk too few vectors to pay for loading its edges).
template <int W>
int64_t RegisterGrid(int64_t total, int cols, int sms) {
  const int64_t period = cols / std::gcd(static_cast<int64_t>(cols), static_cast<int64_t>(kThreads) * W);
  const int64_t want = std::max<int64_t>(1, (total / W + kThreads - 1) / kThreads);
  const int64_t target = std::min<int64_t>(want, sms * 8);
  if (period > sms * 8 || want < 4 * period) return 0;
  return std::max<int64_t>(period, target / period * period);
}

template <int W, int E>
void LaunchRegister(const float* x, int64_t total, int cols, const float* edges, unsigned long long* out,
                    int64_t grid, cudaStream_t stream) {
  const size_t shared = static_cast<size_t>(cols) * (E + 2) * sizeof(unsigned long long);
  HistRegisterKernel<W, E>
      <<<static_cast<unsigned>(grid), kThreads, shared, stream>>>(x, total, cols, edges, out);
}

// The register kernel for E (a compile-time constant) from 1 to kMaxRegisterEdges.
template <int W, int E = 1>
void DispatchRegister(int nedges, const float* x, int64_t total, int cols, const float* edges,
                      unsigned long long* out, int64_t grid, cudaStream_t stream) {
  if constexpr (E <= kMaxRegisterEdges) {
    if (nedges == E) return LaunchRegister<W, E>(x, total, cols, edges, out, grid, stream);
    DispatchRegister<W, E + 1>(nedges, x, total, cols, edges, out, grid, stream);
  }
}

// True when the register kernel ran (else the caller launches the general one).
template <int W>
bool TryRegister(const float* x, int64_t total, int cols, const float* edges, int nedges,
                 unsigned long long* out, cudaStream_t stream) {
  const char* force = std::getenv("DRIFTRUN_HISTOGRAM_KERNEL");
  if (force && std::strcmp(force, "shared") == 0) return false;
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const size_t shared = static_cast<size_t>(cols) * (nedges + 2) * sizeof(unsigned long long);
  if (nedges < 1 || nedges > kMaxRegisterEdges || shared > kSharedBytes) return false;
  const int64_t grid = RegisterGrid<W>(total, cols, sms);
  if (grid == 0) return false;
  DispatchRegister<W>(nedges, x, total, cols, edges, out, grid, stream);
  return true;
}

template <int W>
void Launch(const float* x, int64_t total, int cols, const float* edges, int nedges, unsigned long long* out,
            cudaStream_t stream) {
  if (TryRegister<W>(x, total, cols, edges, nedges, out, stream)) return;
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
