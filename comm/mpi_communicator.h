// MpiCommunicator: host buffers over an MPI communicator.
//
// Owns nothing of MPI's lifetime: MPI_Init/Finalize belong to runner/mpi_env.h.
// All MPI return codes are converted to Status in this file alone (MPI_CHECK in
// mpi_communicator.cpp). The communicator's error handler is set to
// MPI_ERRORS_RETURN so failures come back as values.
#pragma once

#include <mpi.h>

#include "comm/communicator.h"

namespace driftrun {

class MpiCommunicator : public Communicator {
 public:
  // Does not take ownership of `comm` (MPI_COMM_WORLD or a group communicator).
  explicit MpiCommunicator(MPI_Comm comm);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  Status AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) override;
  std::unique_ptr<Work> AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) override;
  Status Broadcast(void* buf, size_t count, DType dtype, int root) override;
  Status Barrier() override;
  MPI_Comm comm() const { return comm_; }

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace driftrun
