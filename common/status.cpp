#include "common/status.h"

#include <cstdio>
#include <cstdlib>

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

Status Status::WithContext(const std::string& where) const {
  if (ok()) return *this;
  Status s = *this;
  if (s.context_.empty()) s.root_ = msg_;
  s.context_.insert(s.context_.begin(), where);
  s.msg_ = where + ": " + msg_;
  return s;
}

namespace internal {
void DieOnMisusedResult(const Status& st, const char* what) {
  std::fprintf(stderr, "driftrun: internal error: Result::%s read although it holds an error (%s)\n", what,
               st.ToString().c_str());
  std::abort();
}
}  // namespace internal

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + msg_;
}

}  // namespace driftrun
