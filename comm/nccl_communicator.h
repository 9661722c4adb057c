// NcclCommunicator: device buffers over NCCL (CUDA builds only).
//
// Created collectively: rank 0 makes the ncclUniqueId and broadcasts it over the
// given host communicator (MPI), then every rank joins with ncclCommInitRank on
// its device. Collectives are enqueued on `stream` (the caller's current CUDA
// stream, so they order after the kernels that produced the buffer); blocking ops
// and Work::Wait() poll cudaStreamQuery and ncclCommGetAsyncError against a
// deadline and abort the communicator on expiry or error ([NCCL deadlines]).
// NCCL and CUDA return codes become Status values in nccl_communicator.cpp alone.
// NCCL refuses two ranks on one GPU: one rank per device.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace driftrun {

struct NcclState;

class NcclCommunicator : public Communicator {
 public:
  // `stream` is a cudaStream_t; `timeout_s` bounds every wait.
  static Result<std::unique_ptr<NcclCommunicator>> Create(Communicator& host, int device, void* stream,
                                                          double timeout_s = 600);
  ~NcclCommunicator() override;
  int rank() const override;
  int size() const override;
  std::string name() const override { return "nccl"; }
  bool device_buffers() const override { return true; }
  Status AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) override;
  std::unique_ptr<Work> AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) override;
  Status Broadcast(void* buf, size_t count, DType dtype, int root) override;
  Status Barrier() override;

 private:
  explicit NcclCommunicator(std::unique_ptr<NcclState> state);
  std::unique_ptr<NcclState> s_;
};

// True when this build has CUDA code and at least one GPU is visible.
bool CudaDeviceAvailable();

}  // namespace driftrun
