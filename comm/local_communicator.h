// LocalCommunicator: the one-rank group. All-reduce and broadcast leave the buffer
// as it is. Used for `driftrun train` without mpirun and in unit tests.
#pragma once

#include "comm/communicator.h"

namespace driftrun {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  Status AllReduce(void*, size_t, DType, ReduceOp) override { return Status::Ok(); }
  std::unique_ptr<Work> AllReduceAsync(void*, size_t, DType, ReduceOp) override {
    return std::make_unique<DoneWork>();
  }
  Status Broadcast(void*, size_t, DType, int) override { return Status::Ok(); }
  Status Barrier() override { return Status::Ok(); }
};

}  // namespace driftrun
