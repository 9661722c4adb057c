// Fuzz target: the reference profile reader (monitor/profile.h). Input: the
// bytes of a profile file, written to a scratch file and read back with
// IsProfileFile and ReadProfile: a profile or a Status, nothing else.
#include <cstdint>

#include "dataio/h5_io.h"
#include "monitor/profile.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  driftrun::SetH5ReadLimitBytes(int64_t{16} << 20);  // bounded cost per input
  const std::string path = driftrun::fuzz::WriteScratch("profile.h5", data, size);
  (void)driftrun::IsProfileFile(path);
  auto p = driftrun::ReadProfile(path);
  if (p.ok()) (void)p.value().features.size();
  return 0;
}
