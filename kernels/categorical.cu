// CUDA categorical hashing and vocabulary lookup: one thread per element.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include "kernels/categorical.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_math.h"

namespace driftrun {
namespace {

__global__ void HashKernel(const int64_t* v, int64_t total, int64_t cols, int64_t buckets, int64_t* out) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[e] = kmath::HashBucket(v[e], static_cast<int>(e % cols), buckets);
  }
}

__global__ void VocabKernel(const int64_t* v, int64_t total, int64_t cols, const int64_t* vocab,
                            int64_t width, const int64_t* sizes, int64_t* out) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = e % cols;
    out[e] = kmath::VocabIndex(v[e], vocab + j * width, sizes[j]);
  }
}

unsigned Grid(int64_t total, int threads) {
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>((total + threads - 1) / threads, sms * 8)));
}

}  // namespace

Result<at::Tensor> HashCategoriesCuda(const at::Tensor& values, int64_t buckets) {
  at::Tensor v = values.contiguous();
  at::Tensor out = at::empty_like(v);
  if (v.numel() == 0) return out;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream(v.get_device()).stream();
  HashKernel<<<Grid(v.numel(), 256), 256, 0, stream>>>(v.data_ptr<int64_t>(), v.numel(), v.size(1), buckets,
                                                       out.data_ptr<int64_t>());
  KERNEL_LAUNCH_CHECK();
  return out;
}

Result<at::Tensor> VocabIndicesCuda(const at::Tensor& values, const at::Tensor& vocab,
                                    const at::Tensor& sizes) {
  at::Tensor v = values.contiguous(), voc = vocab.contiguous(), s = sizes.contiguous();
  at::Tensor out = at::empty_like(v);
  if (v.numel() == 0) return out;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream(v.get_device()).stream();
  VocabKernel<<<Grid(v.numel(), 256), 256, 0, stream>>>(v.data_ptr<int64_t>(), v.numel(), v.size(1),
                                                        voc.data_ptr<int64_t>(), voc.size(1),
                                                        s.data_ptr<int64_t>(), out.data_ptr<int64_t>());
  KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace driftrun
