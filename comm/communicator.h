// Communicator: who talks, not what is reduced.
//
// A small type-erased interface over a group of ranks: rank, size, all-reduce,
// broadcast, barrier on raw buffers (pointer, count, dtype). Backends:
//   LocalCommunicator  one rank, every op is a no-op or a copy (local_communicator.h)
//   MpiCommunicator    host buffers over an MPI communicator (mpi_communicator.h)
//   NcclCommunicator   device buffers over NCCL, unique id broadcast over MPI
//                      (nccl_communicator.h, only in CUDA builds)
// Typed and torch::Tensor helpers sit on top (allreduce.h), so a new backend touches
// one file.
//
// Call order: every rank of the group calls the same collectives in the same order,
// as with MPI. Thread-safety: one thread at a time per communicator.
// Failure: a failed or timed-out collective returns Status::Infra naming the op,
// its size, the step and the rank(s) at fault; the group is then unusable and the
// caller exits (code 5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace driftrun {

enum class DType { kFloat32, kFloat64, kInt64, kUInt8 };
enum class ReduceOp { kSum, kMax, kMin };

size_t DTypeSize(DType t);

// A pending asynchronous collective. Wait() blocks until the buffer holds the
// result; calling it more than once is fine.
class Work {
 public:
  virtual ~Work() = default;
  [[nodiscard]] virtual Status Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Backend name for logs and run summaries: "local", "mpi", "nccl".
  virtual std::string name() const = 0;
  // True when buffers must be device (CUDA) pointers.
  virtual bool device_buffers() const { return false; }

  // In-place all-reduce of `count` elements; blocks until done.
  [[nodiscard]] virtual Status AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) = 0;
  // Starts an in-place all-reduce; the buffer must stay alive and untouched until
  // the returned Work's Wait() returns.
  virtual std::unique_ptr<Work> AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) = 0;
  // Copies `count` elements from `root` to every rank, in place.
  [[nodiscard]] virtual Status Broadcast(void* buf, size_t count, DType dtype, int root) = 0;
  [[nodiscard]] virtual Status Barrier() = 0;

  // Where the caller is, for deadline messages: the trainer sets the step it
  // runs (-1 before the first). Not an MPI call; no ordering requirement.
  void set_step(int64_t step) { step_ = step; }
  int64_t step() const { return step_; }

 private:
  int64_t step_ = -1;
};

// A Work that is already complete with the given status.
class DoneWork : public Work {
 public:
  explicit DoneWork(Status st = Status::Ok()) : st_(std::move(st)) {}
  Status Wait() override { return st_; }

 private:
  Status st_;
};

}  // namespace driftrun
