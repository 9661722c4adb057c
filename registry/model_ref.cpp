#include "registry/model_ref.h"

#include <cctype>
#include <cstdlib>

namespace driftrun {

Result<ModelRef> ParseModelRef(const std::string& ref) {
  ModelRef r;
  const size_t at = ref.find('@'), colon = ref.find(':');
  if (at != std::string::npos) {
    r.name = ref.substr(0, at);
    r.alias = ref.substr(at + 1);
    DRIFTRUN_RETURN_IF_ERROR(ValidateName("alias", r.alias));
  } else if (colon != std::string::npos) {
    r.name = ref.substr(0, colon);
    const std::string v = ref.substr(colon + 1);
    char* end = nullptr;
    r.version = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || r.version < 1) {
      return Status::Usage("'" + ref + "': the version after ':' must be a number >= 1");
    }
  } else {
    r.name = ref;
  }
  DRIFTRUN_RETURN_IF_ERROR(ValidateName("model name", r.name));
  return r;
}

}  // namespace driftrun
