#include "common/guard.h"

#include <array>
#include <new>

#include "common/text.h"

namespace driftrun {
namespace {

bool Contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

// The first line of a LibTorch message: the rest is a C++ stack trace.
std::string FirstLine(const std::string& s) {
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

Status ExceptionStatus(std::exception_ptr e, const std::string& what, Code fallback) {
  std::string msg;
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    return Status::Infra(what + ": out of memory; free memory, use fewer ranks per node or a smaller batch");
  } catch (const std::exception& ex) {
    msg = ex.what();
  } catch (...) {
    msg = "an unknown exception";
  }
  const std::string line = EscapeForConsole(FirstLine(msg));
  static constexpr std::array<const char*, 4> kMemory = {"out of memory", "not enough memory", "OutOfMemory",
                                                         "can't allocate memory"};
  for (const char* k : kMemory) {
    if (Contains(msg, k)) {
      return Status::Infra(what + ": out of memory (" + line +
                           "); lower train.batch_size or the model's size, or use fewer ranks per GPU/node");
    }
  }
  static constexpr std::array<const char*, 8> kDevice = {"CUDA error",   "CUDA driver",       "cudaError",
                                                         "CUDNN_STATUS", "cuDNN error",       "CUBLAS_STATUS",
                                                         "NCCL",         "device-side assert"};
  for (const char* k : kDevice) {
    if (Contains(msg, k))
      return Status::Infra(what + ": device error (" + line + "); check the GPU (nvidia-smi)");
  }
  return Status(fallback, what + ": " + line);
}

}  // namespace driftrun
