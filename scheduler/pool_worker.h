// A worker rank of the pool executor (scheduler/pool_executor.h): waits for
// the master's messages without spinning (a probe, then a nap that grows to
// 20 ms: well under 1% of a core), and trains each job it is given on the
// communicator of that job's ranks alone (MPI_Comm_create_group: idle ranks
// take no part). The trainer is `driftrun train`'s own (trainers/trainer.h),
// so a job on k workers ends with the weights `mpirun -np k driftrun train`
// gives for the same config.
//
// Group communicators are kept by their rank list until the master drops
// them; on GPUs the NCCL communicator of a group is kept with it.
//
// The job's leader (its group rank 0) sends the master a heartbeat with its
// progress every heartbeat_s, and takes the master's stop message between
// steps: every rank then checkpoints at the next step (the trainer's stop
// agreement). A soft failure (bad data, NaN, a config error) ends the job
// with its exit code and message in the job's log, and the ranks are free
// again; a broken group (a collective past its deadline) is reported as
// fatal: the master ends the world.
#pragma once

#include <atomic>
#include <string>

#include "common/status.h"
#include "scheduler/pool_transport.h"
#include "trainers/trainer.h"

namespace driftrun {

struct PoolWorkerOptions {
  double heartbeat_s = 2;
  const std::atomic<int>* stop = nullptr;  // this process's stop signals (SIGTERM, SIGUSR1)
  int local_rank = 0, local_size = 0;
  std::string code_version;
  FaultInjection fault;  // test hook, as in driftrun train (rank: the group's)
};

// Serves jobs until the master's shutdown message. Collective with the
// master's PoolExecutor.
Status RunPoolWorker(PoolTransport& t, const PoolWorkerOptions& o);

}  // namespace driftrun
