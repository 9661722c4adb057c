// CUDA error conversion for the kernels: the one place CUDA return codes and
// launch errors become Status values (STYLE.md point 3). CUDA builds only.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "common/status.h"

#define KERNEL_CUDA_CHECK(stmt)                                                                   \
  do {                                                                                            \
    cudaError_t _e = (stmt);                                                                      \
    if (_e != cudaSuccess) {                                                                      \
      return ::driftrun::Status::Infra(std::string(#stmt) + " failed at " __FILE__ ":" +          \
                                       std::to_string(__LINE__) + ": " + cudaGetErrorString(_e)); \
    }                                                                                             \
  } while (0)

// After a <<<...>>> launch: catches bad configurations at once.
#define KERNEL_LAUNCH_CHECK() KERNEL_CUDA_CHECK(cudaGetLastError())
