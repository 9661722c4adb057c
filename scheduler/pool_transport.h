// The pool executor's control messages (scheduler/pool_executor.h,
// pool_worker.h): small JSON objects between the master (world rank 0) and
// the workers, never gradients. A transport interface, so the master's logic
// (placement, heartbeats, deadlines) is unit-tested without MPI; the MPI
// transport sends over a private duplicate of MPI_COMM_WORLD.
//
// Messages (tag: body):
//   master → every rank of a job  kStart: {job, handle, key, ranks, config, run_dir, log}
//   master → a job's leader       kStop: {job, handle}
//   master → a group's ranks      kDrop: {key}  (free the kept group communicator)
//   master → every worker         kShutdown: {}
//   leader → master               kBeat: {job, handle, step, total_steps, epoch, loss,
//                                         samples_per_s, step_s, allreduce_s}
//   leader → master               kDone: {job, handle, code, stopped, message}
//   any job rank → master         kFatal: {job, handle, message}  (the group is broken)
//
// Thread-safety: one thread per transport (the one that owns MPI).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/status.h"

namespace driftrun {

enum PoolTag : int { kStart = 1, kStop = 2, kDrop = 3, kShutdown = 4, kBeat = 10, kDone = 11, kFatal = 12 };

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json's move constructor is not noexcept
struct PoolMessage {
  int source = 0;
  int tag = 0;
  nlohmann::json body;
};

class PoolTransport {
 public:
  virtual ~PoolTransport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Queues the message; never waits for the receiver.
  virtual void Send(int to, int tag, const nlohmann::json& body) = 0;
  // The next message from `from` (-1: anyone) with `tag` (-1: any), or
  // nullopt at once when none has arrived.
  virtual std::optional<PoolMessage> Receive(int from = -1, int tag = -1) = 0;
  // Completes finished sends; true when none is pending.
  virtual bool Flush() = 0;
};

// Collective over MPI_COMM_WORLD (every rank calls it once, at start): the
// control channel and, for each world rank, its node (the lowest world rank
// sharing its memory, from MPI_Comm_split_type).
struct PoolWorld {
  std::unique_ptr<PoolTransport> transport;
  std::vector<int> node_of_rank;
};
Result<PoolWorld> MakePoolWorld();

}  // namespace driftrun
