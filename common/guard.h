// Guarded: the library-boundary catch. Code below a library's public functions
// may throw (LibTorch's c10::Error, std::bad_alloc, nlohmann::json); the public
// function wraps its body so that callers only ever see a Status:
//
//   Result<PredictResult> Predict(const PredictRequest& r) {
//     return Guarded("inference", Code::kData, [&] { return PredictImpl(r); });
//   }
//
// ExceptionStatus maps what was thrown onto DESIGN's exit codes: running out of
// memory (host or GPU) and device errors (CUDA, cuDNN, cuBLAS, NCCL) are
// infrastructure failures (5) whatever the caller's fallback; anything else gets
// the caller's fallback code (a shape mismatch while predicting is bad input, 3).
// LibTorch's exception types are recognised by their messages, so this header
// stays free of LibTorch.
#pragma once

#include <exception>
#include <string>

#include "common/status.h"

namespace driftrun {

Status ExceptionStatus(std::exception_ptr e, const std::string& what, Code fallback);

template <typename F>
auto Guarded(const std::string& what, Code fallback, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return ExceptionStatus(std::current_exception(), what, fallback);
  }
}

}  // namespace driftrun
