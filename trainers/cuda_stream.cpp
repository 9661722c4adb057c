#include "trainers/cuda_stream.h"

#include <c10/cuda/CUDAStream.h>

namespace driftrun {
void* CurrentCudaStream(int device) {
  return static_cast<void*>(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream());
}
}  // namespace driftrun
