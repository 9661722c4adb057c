#include "common/status.h"

namespace driftrun {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kUsage: return "usage error";
    case Code::kData: return "data error";
    case Code::kTraining: return "training failed";
    case Code::kInfra: return "infrastructure failure";
  }
  return "error";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + msg_;
}

}  // namespace driftrun
