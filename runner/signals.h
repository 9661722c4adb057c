// Stop signals: SIGTERM, SIGUSR1, SIGUSR2 (and the first SIGINT) set a flag that training
// checks at every step boundary; all ranks agree, checkpoint and exit 0. A second
// SIGINT kills the process as usual.
#pragma once

#include <atomic>

namespace driftrun {

// Installs the handlers; returns the flag they set (non-zero = stop requested:
// the number of the last stop signal, which `train --slurm` reads).
const std::atomic<int>* InstallStopHandlers();

}  // namespace driftrun
