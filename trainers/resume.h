// Which run folder a training run writes, and which checkpoint it continues
// from. Decided on rank 0 before any rank trains; no LibTorch.
//
//   resume ""      a fresh run: requested run_dir, else runs/<name>-<YYYYmmdd-HHMMSS>
//                  (with -2, -3, ... when that exists)
//   resume "auto"  the newest valid checkpoint of run_dir, or without run_dir of
//                  the newest runs/<name>-* folder that has one; none: fresh
//   resume PATH    a run folder, a checkpoints/ folder, or a checkpoint (.json
//                  manifest or .h5); run_dir defaults to the folder it is in
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

struct RunFolderChoice {
  std::string run_dir;
  std::string checkpoint;             // manifest to resume from; "": fresh start
  std::vector<std::string> warnings;  // corrupt checkpoints skipped
};

// Status::Usage when an explicit PATH holds no valid checkpoint; out->warnings
// are filled either way.
Status ResolveRunFolder(const std::string& run_dir, const std::string& resume, const std::string& name,
                        RunFolderChoice* out);

}  // namespace driftrun
