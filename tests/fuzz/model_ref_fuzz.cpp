// Fuzz target: model references ("name", "name:3", "name@alias") and the name
// and alias rules of the registry (registry/model_ref.h, common/text.h,
// registry/promotion_gate.h). Pure functions: Status on bad input, and a
// parsed reference always holds valid names and a version >= 1 or none.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/text.h"
#include "registry/model_ref.h"
#include "registry/promotion_gate.h"

namespace {

void Check(bool ok, const char* what, const std::string& input) {
  if (ok) return;
  std::fprintf(stderr, "%s: '%s'\n", what, driftrun::EscapeForConsole(input).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace driftrun;
  const std::string s(reinterpret_cast<const char*>(data), size);
  auto ref = ParseModelRef(s);
  if (ref.ok()) {
    const ModelRef& r = ref.value();
    Check(ValidateName("model name", r.name).ok(), "parsed name is not a valid name", s);
    Check(r.alias.empty() || ValidateName("alias", r.alias).ok(), "parsed alias is not valid", s);
    Check(r.version >= 0 && (r.version == 0 || r.alias.empty()), "version and alias both set", s);
    // A valid name never reaches outside the registry folder.
    Check(r.name.find("..") == std::string::npos && r.name.find('/') == std::string::npos, "path in name", s);
  }
  if (ValidateName("model name", s).ok()) {
    Check(!s.empty() && s.size() <= 128 && s.find('/') == std::string::npos, "ValidateName accepted", s);
    Check(ParseModelRef(s).ok(), "a valid name is not a valid reference", s);
  }
  const std::string canon = CanonicalAlias(s);
  Check(CanonicalAlias(canon) == canon, "CanonicalAlias is not idempotent", s);
  Policy p;
  p.gated = {s, "production"};
  (void)p.Check();
  (void)GatedSpelling(p, s);
  (void)SamePerson(s, canon);
  const std::string shown = EscapeForConsole(s);
  Check(IsValidUtf8(shown), "EscapeForConsole gave invalid UTF-8", s);
  return 0;
}
