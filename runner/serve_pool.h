// `driftrun serve --executor pool` under mpirun: world rank 0 runs the
// service on one thread and the pool's MPI loop on the main thread (the only
// thread that calls MPI); ranks 1..N-1 are the pool's workers
// (scheduler/pool_worker.h).
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "common/status.h"
#include "scheduler/executor.h"
#include "scheduler/service_setup.h"

namespace driftrun {

struct ServePoolArgs {
  const ServiceSetup* setup = nullptr;
  // The service loop with the given executor (rank 0's service thread).
  std::function<Status(Executor& executor)> serve;
  std::function<void(const std::string&)> say;
  const std::atomic<int>* stop = nullptr;
  std::string code_version;
};

// Returns this rank's exit code. A broken job group or a silent job leader
// ends the whole world with exit 5 after the journal and the job's log say
// which job, which ranks and why (Open MPI cannot drop a rank from a world).
int ServePool(const ServePoolArgs& a, int* argc, char*** argv);

}  // namespace driftrun
