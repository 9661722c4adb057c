#include "comm/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <thread>

namespace driftrun {
namespace {

// The one place CUDA and NCCL return codes become Status values.
#define CUDA_CHECK(stmt, rank)                                                                              \
  do {                                                                                                      \
    cudaError_t _e = (stmt);                                                                                \
    if (_e != cudaSuccess) {                                                                                \
      return Status::Infra(std::string(#stmt) + " failed on rank " + std::to_string(rank) +                 \
                           " at " __FILE__ ":" + std::to_string(__LINE__) + ": " + cudaGetErrorString(_e)); \
    }                                                                                                       \
  } while (0)

#define NCCL_CHECK(stmt, rank)                                                                              \
  do {                                                                                                      \
    ncclResult_t _r = (stmt);                                                                               \
    if (_r != ncclSuccess) {                                                                                \
      return Status::Infra(std::string(#stmt) + " failed on rank " + std::to_string(rank) +                 \
                           " at " __FILE__ ":" + std::to_string(__LINE__) + ": " + ncclGetErrorString(_r) + \
                           " (set NCCL_DEBUG=WARN for details)");                                           \
    }                                                                                                       \
  } while (0)

ncclDataType_t ToNccl(DType t) {
  switch (t) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat64: return ncclFloat64;
    case DType::kInt64: return ncclInt64;
    case DType::kUInt8: return ncclUint8;
  }
  return ncclUint8;
}

ncclRedOp_t ToNccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}

}  // namespace

struct NcclState {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  int rank = 0;
  int size = 1;
  double timeout_s = 600;
  int64_t step = -1;  // the trainer's step, for the deadline message
  bool aborted = false;

  // [NCCL deadlines] Polls the event until done, an async NCCL error, or the
  // deadline; aborts the communicator on the last two.
  Status WaitEvent(cudaEvent_t ev, const char* op) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    while (true) {
      cudaError_t q = cudaEventQuery(ev);
      if (q == cudaSuccess) return Status::Ok();
      if (q != cudaErrorNotReady) CUDA_CHECK(q, rank);
      ncclResult_t async_err = ncclSuccess;
      NCCL_CHECK(ncclCommGetAsyncError(comm, &async_err), rank);
      if (async_err != ncclSuccess) {
        ncclCommAbort(comm);
        aborted = true;
        return Status::Infra(std::string("NCCL ") + op + " failed on rank " + std::to_string(rank) + ": " +
                             ncclGetErrorString(async_err));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm);
        aborted = true;
        return Status::Infra(
            std::string("NCCL ") + op + " on rank " + std::to_string(rank) +
            (step >= 0 ? " at step " + std::to_string(step) : std::string(" before the first step")) +
            " did not complete within " + std::to_string(timeout_s) +
            " s (dist.timeout_s): a peer rank is missing or hung. The job stops (exit 5) so that "
            "a supervisor or Slurm can restart it; --resume auto continues from the last "
            "checkpoint");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  Status Sync(const char* op) {
    cudaEvent_t ev;
    CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), rank);
    Status st = [&]() -> Status {
      CUDA_CHECK(cudaEventRecord(ev, stream), rank);
      return WaitEvent(ev, op);
    }();
    cudaEventDestroy(ev);
    return st;
  }
};

namespace {

class NcclWork : public Work {
 public:
  NcclWork(NcclState* s, Status start) : s_(s), start_(std::move(start)) {
    if (start_.ok()) {
      cudaError_t e = cudaEventCreateWithFlags(&ev_, cudaEventDisableTiming);
      if (e == cudaSuccess) e = cudaEventRecord(ev_, s_->stream);
      if (e != cudaSuccess) start_ = Status::Infra(std::string("cudaEventRecord: ") + cudaGetErrorString(e));
    }
  }
  ~NcclWork() override {
    if (ev_) cudaEventDestroy(ev_);
  }
  Status Wait() override {
    if (!start_.ok() || done_) return start_;
    done_ = true;
    start_ = s_->WaitEvent(ev_, "all-reduce");
    return start_;
  }

 private:
  NcclState* s_;
  Status start_;
  cudaEvent_t ev_ = nullptr;
  bool done_ = false;
};

}  // namespace

bool CudaDeviceAvailable() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<NcclState> state) : s_(std::move(state)) {}

NcclCommunicator::~NcclCommunicator() {
  if (s_ && s_->comm && !s_->aborted) ncclCommDestroy(s_->comm);
}

int NcclCommunicator::rank() const {
  return s_->rank;
}
int NcclCommunicator::size() const {
  return s_->size;
}

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(Communicator& host, int device,
                                                                   void* stream, double timeout_s) {
  auto st = std::make_unique<NcclState>();
  st->rank = host.rank();
  st->size = host.size();
  st->stream = static_cast<cudaStream_t>(stream);
  st->timeout_s = timeout_s;
  Status s = [&]() -> Status {
    CUDA_CHECK(cudaSetDevice(device), st->rank);
    ncclUniqueId id;
    if (host.rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id), st->rank);
    DRIFTRUN_RETURN_IF_ERROR(host.Broadcast(&id, sizeof(id), DType::kUInt8, 0));
    NCCL_CHECK(ncclCommInitRank(&st->comm, st->size, id, st->rank), st->rank);
    return Status::Ok();
  }();
  if (!s.ok()) return s.WithContext("creating the NCCL communicator on device " + std::to_string(device));
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(std::move(st)));
}

Status NcclCommunicator::AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) {
  auto w = AllReduceAsync(buf, count, dtype, op);
  return w->Wait();
}

std::unique_ptr<Work> NcclCommunicator::AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) {
  if (s_->aborted)
    return std::make_unique<DoneWork>(Status::Infra("the NCCL communicator was aborted after an error"));
  s_->step = step();
  ncclResult_t r = ncclAllReduce(buf, buf, count, ToNccl(dtype), ToNccl(op), s_->comm, s_->stream);
  if (r != ncclSuccess) {
    return std::make_unique<DoneWork>(Status::Infra(std::string("ncclAllReduce failed on rank ") +
                                                    std::to_string(s_->rank) + ": " + ncclGetErrorString(r)));
  }
  return std::make_unique<NcclWork>(s_.get(), Status::Ok());
}

Status NcclCommunicator::Broadcast(void* buf, size_t count, DType dtype, int root) {
  if (s_->aborted) return Status::Infra("the NCCL communicator was aborted after an error");
  s_->step = step();
  NCCL_CHECK(ncclBroadcast(buf, buf, count, ToNccl(dtype), root, s_->comm, s_->stream), s_->rank);
  return s_->Sync("broadcast");
}

Status NcclCommunicator::Barrier() {
  // A one-element all-reduce on a scratch device buffer.
  void* scratch = nullptr;
  CUDA_CHECK(cudaMalloc(&scratch, sizeof(float)), s_->rank);
  CUDA_CHECK(cudaMemsetAsync(scratch, 0, sizeof(float), s_->stream), s_->rank);
  Status st = AllReduce(scratch, 1, DType::kFloat32, ReduceOp::kSum);
  cudaFree(scratch);
  return st;
}

}  // namespace driftrun
