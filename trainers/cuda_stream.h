// The current ATen CUDA stream as an opaque cudaStream_t (CUDA builds only), so
// NCCL collectives order after the kernels that produced their buffers.
#pragma once

namespace driftrun {
void* CurrentCudaStream(int device);
}  // namespace driftrun
