#include "trainers/versions.h"

#include <hdf5.h>
#include <mpi.h>
#include <torch/version.h>

#ifdef DRIFTRUN_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace driftrun {

std::map<std::string, std::string> LibraryVersions() {
  std::map<std::string, std::string> v;
  v["libtorch"] = TORCH_VERSION;
#ifdef DRIFTRUN_WITH_CUDA
  v["cuda"] = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
  v["nccl"] =
      std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." + std::to_string(NCCL_PATCH);
#else
  v["cuda"] = "none";
  v["nccl"] = "none";
#endif
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  std::string m(mpi, static_cast<size_t>(len));
  v["mpi"] = m.substr(0, m.find(','));
  v["hdf5"] = std::to_string(H5_VERS_MAJOR) + "." + std::to_string(H5_VERS_MINOR) + "." +
              std::to_string(H5_VERS_RELEASE);
  return v;
}

}  // namespace driftrun
