// MpiCommunicator: host buffers over an MPI communicator.
//
// Owns nothing of MPI's lifetime: MPI_Init/Finalize belong to runner/mpi_env.h.
// All MPI return codes are converted to Status in this file alone (MPI_CHECK in
// mpi_communicator.cpp). The communicator's error handler is set to
// MPI_ERRORS_RETURN so failures come back as values.
//
// [MPI deadlines] Every collective is non-blocking (MPI_Iallreduce, MPI_Ibcast,
// MPI_Ibarrier) and polled against `timeout_s` (dist.timeout_s). On expiry the
// rank runs a check over a private duplicate of the communicator: it tells every
// peer which collective it waits in, and listens for a short grace period; a peer
// still polling a collective answers at once, so the ranks that stay silent are
// the ones that never arrived (stuck or busy outside MPI). The Status names the
// operation, its size, the step and those ranks; the communicator is then broken
// (every later call fails at once) and the caller ends the job (exit 5).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>

#include "comm/communicator.h"

namespace driftrun {

// Before MPI_Init: Open MPI settings driftrun relies on, as environment
// defaults (a value the user set wins). Open MPI's non-blocking all-reduce
// (libnbc) picks a binomial reduce + broadcast for fewer than 4 ranks and for
// every MPI_IN_PLACE call, which is how gradient buckets are reduced: several
// times slower than the blocking MPI_Allreduce of the same bytes
// (BENCHMARKS.md, allreduce_bench); its ring schedule is not.
void SetMpiDefaults();

class MpiCommunicator : public Communicator {
 public:
  static constexpr double kDefaultTimeoutS = 600;
  // Does not take ownership of `comm` (MPI_COMM_WORLD or a group communicator);
  // duplicates it for the deadline check. Collective over `comm`.
  static Result<std::unique_ptr<MpiCommunicator>> Create(MPI_Comm comm, double timeout_s = kDefaultTimeoutS);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  Status AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) override;
  std::unique_ptr<Work> AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) override;
  Status Broadcast(void* buf, size_t count, DType dtype, int root) override;
  Status Barrier() override;
  MPI_Comm comm() const { return comm_; }
  // The deadline of later collectives (a kept group communicator takes each
  // job's dist.timeout_s).
  void set_timeout_s(double timeout_s) { timeout_s_ = timeout_s; }

  // What one pending collective is, for the deadline message.
  struct Pending {
    int64_t seq = 0;  // position in this communicator's call order
    int op = 0;       // index into the op names (mpi_communicator.cpp)
    size_t count = 0;
    DType dtype = DType::kUInt8;
    int64_t step = -1;
  };
  // Polls `req` until it completes, fails, or the deadline passes ([MPI deadlines]).
  Status Complete(MPI_Request* req, const Pending& what);

 private:
  MpiCommunicator(MPI_Comm comm, MPI_Comm side, int rank, int size, double timeout_s);
  Result<Pending> Start(int op, size_t count, DType dtype);
  bool PeerGaveUp();
  Status Stalled(const Pending& what, double waited_s);

  MPI_Comm comm_;
  MPI_Comm side_;  // private duplicate: the deadline check's messages
  int rank_ = 0;
  int size_ = 1;
  double timeout_s_ = kDefaultTimeoutS;
  int64_t seq_ = 0;
  Status broken_;  // not ok once a collective failed: every later call returns it
};

}  // namespace driftrun
