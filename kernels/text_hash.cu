// CUDA text hashing: the rows' bytes and offsets go to the device in one copy
// each; one thread per row runs kmath::HashTextRow.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include "kernels/cuda_check.h"
#include "kernels/text_hash.h"
#include "kernels/text_math.h"

namespace driftrun {
namespace {

__global__ void HashTextKernel(const char* bytes, const int64_t* offsets, int64_t rows, int64_t buckets,
                               int word_ngrams, int char_ngrams, int64_t max_ids, int64_t* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rows;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    kmath::HashTextRow(bytes + offsets[i], offsets[i + 1] - offsets[i], buckets, word_ngrams, char_ngrams,
                       max_ids, out + i * max_ids);
  }
}

}  // namespace

Result<at::Tensor> HashTextCuda(const std::string& bytes, const std::vector<int64_t>& offsets,
                                const NgramOptions& o, at::Device device) {
  const int64_t rows = static_cast<int64_t>(offsets.size()) - 1;
  auto opts = at::TensorOptions().device(device);
  at::Tensor out = at::empty({rows, o.max_ids}, opts.dtype(at::kLong));
  if (rows == 0) return out;
  at::Tensor d_bytes =
      at::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size()) + 1}, at::kChar)
          .to(device);
  at::Tensor d_off = at::from_blob(const_cast<int64_t*>(offsets.data()), {rows + 1}, at::kLong).to(device);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream(device.index()).stream();
  const int threads = 128;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>((rows + threads - 1) / threads, 65535));
  HashTextKernel<<<grid, threads, 0, stream>>>(reinterpret_cast<const char*>(d_bytes.data_ptr<int8_t>()),
                                               d_off.data_ptr<int64_t>(), rows, o.buckets, o.word_ngrams,
                                               o.char_ngrams, o.max_ids, out.data_ptr<int64_t>());
  KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace driftrun
