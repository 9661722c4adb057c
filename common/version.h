// The code version of this build: `git describe --always --dirty --tags` when
// the binary was built (cmake/version.cmake writes it at every build, so a
// commit after configuring is seen). --version, runs' code_version, ONNX
// producer_version and the registry's lineage carry it.
#pragma once

namespace driftrun {

extern const char* const kCodeVersion;

}  // namespace driftrun
