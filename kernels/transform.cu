// CUDA fused transform: a grid-stride loop over elements; parameters in shared
// memory; imputed/clipped counts aggregated per block in shared memory, then
// added to global counts. Output float32 or bfloat16.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <cuda_bf16.h>

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

template <typename Out>
__global__ void TransformKernel(const float* x, int64_t total, int cols, const kmath::ColumnTransform* params,
                                Out* out, unsigned long long* imputed, unsigned long long* clipped) {
  extern __shared__ unsigned char smem[];
  auto* p = reinterpret_cast<kmath::ColumnTransform*>(smem);
  auto* imp = reinterpret_cast<unsigned int*>(p + cols);
  auto* clp = imp + cols;
  for (int k = threadIdx.x; k < cols; k += blockDim.x) {
    p[k] = params[k];
    imp[k] = 0;
    clp[k] = 0;
  }
  __syncthreads();
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(e % cols);
    bool was_imputed, was_clipped;
    out[e] = Convert<Out>(kmath::TransformOne(x[e], p[j], &was_imputed, &was_clipped));
    if (was_imputed) atomicAdd(&imp[j], 1u);
    if (was_clipped) atomicAdd(&clp[j], 1u);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < cols; k += blockDim.x) {
    if (imp[k]) atomicAdd(&imputed[k], static_cast<unsigned long long>(imp[k]));
    if (clp[k]) atomicAdd(&clipped[k], static_cast<unsigned long long>(clp[k]));
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
    const int threads = 256;
    const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    const unsigned grid = static_cast<unsigned>(std::min<int64_t>((total + threads - 1) / threads, sms * 8));
    const size_t shared = cols * (sizeof(kmath::ColumnTransform) + 2 * sizeof(unsigned int));
    if (shared > 48 * 1024) return Status::Data("the CUDA fused transform supports up to 2048 columns");
    auto* params_d = reinterpret_cast<const kmath::ColumnTransform*>(p.data_ptr<uint8_t>());
    auto* imp = reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>());
    if (bf16) {
      TransformKernel<__nv_bfloat16><<<grid, threads, shared, stream>>>(
          x.data_ptr<float>(), total, static_cast<int>(cols), params_d,
          reinterpret_cast<__nv_bfloat16*>(out->data_ptr<at::BFloat16>()), imp, imp + cols);
    } else {
      TransformKernel<float><<<grid, threads, shared, stream>>>(x.data_ptr<float>(), total,
                                                                static_cast<int>(cols), params_d,
                                                                out->data_ptr<float>(), imp, imp + cols);
    }
    KERNEL_LAUNCH_CHECK();
  }
  at::Tensor c = counts.cpu();
  r.imputed.assign(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + cols);
  r.clipped.assign(c.data_ptr<int64_t>() + cols, c.data_ptr<int64_t>() + 2 * cols);
  return r;
}

}  // namespace driftrun
