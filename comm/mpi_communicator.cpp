#include "comm/mpi_communicator.h"

#include <climits>
#include <string>

namespace driftrun {
namespace {

std::string MpiErrorString(int rc) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return std::string(msg, len);
}

// The one place MPI error codes become Status values.
#define MPI_CHECK(stmt, rank)                                                                            \
  do {                                                                                                   \
    int _rc = (stmt);                                                                                    \
    if (_rc != MPI_SUCCESS) {                                                                            \
      return Status::Infra(std::string(#stmt) + " failed on rank " + std::to_string(rank) +              \
                           " at " __FILE__ ":" + std::to_string(__LINE__) + ": " + MpiErrorString(_rc) + \
                           "; check that every rank is alive and runs the same version");                \
    }                                                                                                    \
  } while (0)

MPI_Datatype ToMpi(DType t) {
  switch (t) {
    case DType::kFloat32: return MPI_FLOAT;
    case DType::kFloat64: return MPI_DOUBLE;
    case DType::kInt64: return MPI_INT64_T;
    case DType::kUInt8: return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

MPI_Op ToMpi(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  return MPI_SUM;
}

class MpiWork : public Work {
 public:
  MpiWork(MPI_Request req, int rank, int rc) : req_(req), rank_(rank), start_rc_(rc) {}
  Status Wait() override {
    MPI_CHECK(start_rc_, rank_);
    if (req_ != MPI_REQUEST_NULL) MPI_CHECK(MPI_Wait(&req_, MPI_STATUS_IGNORE), rank_);
    return Status::Ok();
  }

 private:
  MPI_Request req_;
  int rank_;
  int start_rc_;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
}

Status MpiCommunicator::AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) {
  if (count > INT_MAX) return Status::Infra("all-reduce of more than 2^31 elements; split it");
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, static_cast<int>(count), ToMpi(dtype), ToMpi(op), comm_), rank_);
  return Status::Ok();
}

std::unique_ptr<Work> MpiCommunicator::AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) {
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, static_cast<int>(count), ToMpi(dtype), ToMpi(op), comm_, &req);
  return std::make_unique<MpiWork>(req, rank_, rc);
}

Status MpiCommunicator::Broadcast(void* buf, size_t count, DType dtype, int root) {
  MPI_CHECK(MPI_Bcast(buf, static_cast<int>(count), ToMpi(dtype), root, comm_), rank_);
  return Status::Ok();
}

Status MpiCommunicator::Barrier() {
  MPI_CHECK(MPI_Barrier(comm_), rank_);
  return Status::Ok();
}

}  // namespace driftrun
