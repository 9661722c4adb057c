// CUDA fused transform: a grid-stride walk over vectors of 4 elements (16-byte
// loads, 16- or 8-byte stores) when both buffers are aligned, else single
// elements (kmath::ColumnWalk: a thread's column advances by a fixed stride,
// no division per element); parameters in shared memory; imputed/clipped
// counts aggregated per block in shared memory, then added to global counts.
// Output float32 or bfloat16.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/transform.h"

namespace driftrun {
namespace {

template <typename Out>
__device__ __forceinline__ Out Convert(float v);
template <>
__device__ __forceinline__ float Convert<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 Convert<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// W consecutive values, aligned so that one load or store moves them all.
template <typename T, int W>
struct alignas(sizeof(T) * W) Vec {
  T v[W];
};

struct Counts {
  unsigned int* imputed;
  unsigned int* clipped;
};

template <typename Out>
__device__ __forceinline__ Out One(float v, const kmath::ColumnTransform& p, int j, Counts c) {
  bool was_imputed, was_clipped;
  const Out o = Convert<Out>(kmath::TransformOne(v, p, &was_imputed, &was_clipped));
  if (was_imputed) atomicAdd(&c.imputed[j], 1u);
  if (was_clipped) atomicAdd(&c.clipped[j], 1u);
  return o;
}

template <typename Out, int W>
__global__ void TransformKernel(const float* x, int64_t total, int cols, const kmath::ColumnTransform* params,
                                Out* out, unsigned long long* imputed, unsigned long long* clipped) {
  extern __shared__ unsigned char smem[];
  auto* p = reinterpret_cast<kmath::ColumnTransform*>(smem);
  Counts c{reinterpret_cast<unsigned int*>(p + cols), reinterpret_cast<unsigned int*>(p + cols) + cols};
  for (int k = threadIdx.x; k < cols; k += blockDim.x) {
    p[k] = params[k];
    c.imputed[k] = 0;
    c.clipped[k] = 0;
  }
  __syncthreads();
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x, vectors = total / W;
  const auto* xv = reinterpret_cast<const Vec<float, W>*>(x);
  auto* ov = reinterpret_cast<Vec<Out, W>*>(out);
  for (kmath::ColumnWalk w(t, threads, W, cols); w.vec < vectors; w.Advance(threads)) {
    const Vec<float, W> in = xv[w.vec];
    Vec<Out, W> o;
    int j = w.col;
#pragma unroll
    for (int u = 0; u < W; ++u, j = w.Next(j)) o.v[u] = One<Out>(in.v[u], p[j], j, c);
    ov[w.vec] = o;
  }
  for (int64_t e = kmath::TailBegin(total, W) + t; e < total; e += threads) {
    const int j = static_cast<int>(e % cols);
    out[e] = One<Out>(x[e], p[j], j, c);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < cols; k += blockDim.x) {
    if (c.imputed[k]) atomicAdd(&imputed[k], static_cast<unsigned long long>(c.imputed[k]));
    if (c.clipped[k]) atomicAdd(&clipped[k], static_cast<unsigned long long>(c.clipped[k]));
  }
}

bool Aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

template <typename Out>
void Launch(const at::Tensor& x, int cols, const kmath::ColumnTransform* params, Out* out,
            unsigned long long* imp, size_t shared, cudaStream_t stream) {
  const int64_t total = x.numel();
  const float* xp = x.data_ptr<float>();
  const bool vec4 = Aligned(xp, 4 * sizeof(float)) && Aligned(out, 4 * sizeof(Out));
  const int threads = 256, width = vec4 ? 4 : 1;
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t want = (total / width + threads - 1) / threads;
  const unsigned grid = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(want, sms * 8)));
  if (vec4) {
    TransformKernel<Out, 4><<<grid, threads, shared, stream>>>(xp, total, cols, params, out, imp, imp + cols);
  } else {
    TransformKernel<Out, 1><<<grid, threads, shared, stream>>>(xp, total, cols, params, out, imp, imp + cols);
  }
}

}  // namespace

Result<TransformReport> FusedTransformCuda(const at::Tensor& xin,
                                           const std::vector<kmath::ColumnTransform>& params, bool bf16,
                                           at::Tensor* out) {
  at::Tensor x = xin.contiguous();
  const int64_t cols = x.size(1), total = x.numel();
  *out = at::empty_like(x, x.options().dtype(bf16 ? at::kBFloat16 : at::kFloat));
  at::Tensor counts = at::zeros({2, cols}, x.options().dtype(at::kLong));
  at::Tensor p =
      at::from_blob(const_cast<kmath::ColumnTransform*>(params.data()),
                    {static_cast<int64_t>(params.size() * sizeof(kmath::ColumnTransform))}, at::kByte)
          .to(x.device());
  TransformReport r;
  if (total > 0) {
    cudaStream_t stream = at::cuda::getCurrentCUDAStream(x.get_device()).stream();
    const size_t shared = cols * (sizeof(kmath::ColumnTransform) + 2 * sizeof(unsigned int));
    if (shared > 48 * 1024) return Status::Data("the CUDA fused transform supports up to 2048 columns");
    auto* params_d = reinterpret_cast<const kmath::ColumnTransform*>(p.data_ptr<uint8_t>());
    auto* imp = reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>());
    if (bf16) {
      Launch(x, static_cast<int>(cols), params_d,
             reinterpret_cast<__nv_bfloat16*>(out->data_ptr<at::BFloat16>()), imp, shared, stream);
    } else {
      Launch(x, static_cast<int>(cols), params_d, out->data_ptr<float>(), imp, shared, stream);
    }
    KERNEL_LAUNCH_CHECK();
  }
  at::Tensor c = counts.cpu();
  r.imputed.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + cols);
  r.clipped.assign(c.data_ptr<int64_t>() + cols, c.data_ptr<int64_t>() + 2 * cols);
  return r;
}

}  // namespace driftrun
