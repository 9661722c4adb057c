#include "comm/mpi_communicator.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace driftrun {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kStallTag = 7101;
enum Op { kOpAllReduce = 0, kOpBroadcast = 1, kOpBarrier = 2 };
const char* const kOpNames[] = {"all-reduce", "broadcast", "barrier"};

std::string MpiErrorString(int rc) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return std::string(msg, len);
}

std::string MpiFailure(const char* what, int rank, int rc, int line) {
  return std::string(what) + " failed on rank " + std::to_string(rank) + " at " __FILE__ ":" +
         std::to_string(line) + ": " + MpiErrorString(rc) +
         "; check that every rank is alive and runs the same version";
}

// The one place MPI error codes become Status values.
#define MPI_CHECK(stmt, rank)                                                             \
  do {                                                                                    \
    int _rc = (stmt);                                                                     \
    if (_rc != MPI_SUCCESS) return Status::Infra(MpiFailure(#stmt, rank, _rc, __LINE__)); \
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

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
  }
  return "bytes";
}

std::string Bytes(double b) {
  char buf[32];
  if (b < 1024) {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  } else if (b < 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  }
  return buf;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

std::string Describe(const MpiCommunicator::Pending& p) {
  std::string s = kOpNames[p.op];
  if (p.op != kOpBarrier) {
    s += " of " + std::to_string(p.count) + " " + DTypeName(p.dtype) + " (" +
         Bytes(static_cast<double>(p.count) * DTypeSize(p.dtype)) + ")";
  }
  s += p.step >= 0 ? " at step " + std::to_string(p.step) : " before the first step";
  return s + " (collective #" + std::to_string(p.seq) + ")";
}

std::string RankList(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

class MpiWork : public Work {
 public:
  MpiWork(MpiCommunicator* comm, MPI_Request req, MpiCommunicator::Pending what, Status start)
      : comm_(comm), req_(req), what_(what), st_(std::move(start)) {}
  Status Wait() override {
    if (st_.ok() && !done_) st_ = comm_->Complete(&req_, what_);
    done_ = true;
    return st_;
  }

 private:
  MpiCommunicator* comm_;
  MPI_Request req_;
  MpiCommunicator::Pending what_;
  Status st_;
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MPI_Comm comm, double timeout_s) {
  if (!(timeout_s > 0)) return Status::Usage("dist.timeout_s must be > 0 seconds");
  int rank = 0;
  int size = 1;
  MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), rank);
  MPI_CHECK(MPI_Comm_rank(comm, &rank), rank);
  MPI_CHECK(MPI_Comm_size(comm, &size), rank);
  MPI_Comm side = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(comm, &side), rank);
  MPI_CHECK(MPI_Comm_set_errhandler(side, MPI_ERRORS_RETURN), rank);
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, side, rank, size, timeout_s));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, MPI_Comm side, int rank, int size, double timeout_s)
    : comm_(comm), side_(side), rank_(rank), size_(size), timeout_s_(timeout_s) {}

void SetMpiDefaults() {
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
}

MpiCommunicator::~MpiCommunicator() {
  // A broken communicator may have messages in flight on side_: leave it to
  // MPI_Abort / MPI_Finalize.
  if (broken_.ok() && side_ != MPI_COMM_NULL) MPI_Comm_free(&side_);
}

Result<MpiCommunicator::Pending> MpiCommunicator::Start(int op, size_t count, DType dtype) {
  if (!broken_.ok()) return broken_;
  if (count > static_cast<size_t>(INT_MAX)) {
    return Status::Infra(std::string(kOpNames[op]) + " of " + std::to_string(count) +
                         " elements: more than MPI's 2^31-1 per call; split it");
  }
  Pending p;
  p.seq = ++seq_;
  p.op = op;
  p.count = count;
  p.dtype = dtype;
  p.step = step();
  return p;
}

Status MpiCommunicator::Complete(MPI_Request* req, const Pending& what) {
  if (!broken_.ok()) return broken_;
  const auto t0 = SteadyClock::now();
  auto next_check = t0 + std::chrono::milliseconds(10);
  while (*req != MPI_REQUEST_NULL) {
    int done = 0;
    int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      broken_ =
          Status::Infra(MpiFailure(kOpNames[what.op], rank_, rc, __LINE__) + " (" + Describe(what) + ")");
      return broken_;
    }
    if (done) break;
    const auto now = SteadyClock::now();
    const double waited = std::chrono::duration<double>(now - t0).count();
    // Spin while a collective is young (MPI progresses inside MPI_Test); a long
    // wait (a peer writing a checkpoint) backs off to spare the core.
    if (waited > 1.0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    if (now < next_check) continue;
    next_check = now + std::chrono::milliseconds(10);
    if (waited > timeout_s_ || PeerGaveUp()) return Stalled(what, waited);
  }
  return Status::Ok();
}

bool MpiCommunicator::PeerGaveUp() {
  int flag = 0;
  return MPI_Iprobe(MPI_ANY_SOURCE, kStallTag, side_, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag;
}

// [MPI deadlines] Tells every peer where this rank waits, then listens for a
// grace period: a peer polling any collective answers within its next check
// (10 ms), so silence means the peer never arrived.
Status MpiCommunicator::Stalled(const Pending& what, double waited_s) {
  static std::array<int64_t, 3> mine;  // outlives the sends (the process ends soon)
  mine = {what.seq, what.op, what.step};
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    MPI_Request req = MPI_REQUEST_NULL;
    if (MPI_Isend(mine.data(), 3, MPI_INT64_T, r, kStallTag, side_, &req) == MPI_SUCCESS)
      MPI_Request_free(&req);
  }
  std::vector<std::array<int64_t, 3>> where(size_);
  std::vector<bool> answered(size_, false);
  answered[rank_] = true;
  where[rank_] = mine;
  int answers = 1;
  const double grace = std::clamp(timeout_s_, 0.5, 3.0);
  const auto until = SteadyClock::now() + std::chrono::duration<double>(grace);
  while (answers < size_ && SteadyClock::now() < until) {
    int flag = 0;
    MPI_Status s;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kStallTag, side_, &flag, &s) != MPI_SUCCESS || !flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    std::array<int64_t, 3> theirs{};
    if (MPI_Recv(theirs.data(), 3, MPI_INT64_T, s.MPI_SOURCE, kStallTag, side_, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS)
      continue;
    if (!answered[s.MPI_SOURCE]) ++answers;
    answered[s.MPI_SOURCE] = true;
    where[s.MPI_SOURCE] = theirs;
  }
  std::vector<int> missing, waiting, elsewhere;
  for (int r = 0; r < size_; ++r) {
    if (!answered[r]) {
      missing.push_back(r);
    } else if (where[r][0] == what.seq) {
      waiting.push_back(r);
    } else {
      elsewhere.push_back(r);
    }
  }
  std::string msg = Describe(what) + " did not complete within " + Seconds(timeout_s_) +
                    " (dist.timeout_s; this rank waited " + Seconds(std::round(waited_s * 10) / 10) + "): ";
  if (!missing.empty()) {
    msg += RankList(missing) + " never arrived" + " (silent for " + Seconds(grace) +
           " to a check from the waiting ranks: stuck or busy outside MPI, for example computing, reading "
           "data, writing a checkpoint, or stopped in a debugger); ";
  } else {
    msg += "every rank answered, so MPI itself or the network is stuck; ";
  }
  if (!waiting.empty()) msg += RankList(waiting) + " waited in it";
  for (int r : elsewhere) {
    const int64_t op = std::clamp<int64_t>(where[r][1], 0, 2);
    msg += "; rank " + std::to_string(r) + " waited in " + kOpNames[op] + " #" + std::to_string(where[r][0]) +
           " at step " + std::to_string(where[r][2]);
  }
  msg +=
      ". The job stops (exit 5) so that a supervisor or Slurm can restart it; --resume auto continues from "
      "the last checkpoint. If a rank is legitimately this slow here, raise dist.timeout_s";
  broken_ = Status::Infra(msg);
  // One message: the lowest waiting rank reports and ends the job; the others
  // give it a moment before they report too.
  const int reporter = static_cast<int>(std::find(answered.begin(), answered.end(), true) - answered.begin());
  if (reporter != rank_) std::this_thread::sleep_for(std::chrono::seconds(5));
  return broken_;
}

Status MpiCommunicator::AllReduce(void* buf, size_t count, DType dtype, ReduceOp op) {
  auto work = AllReduceAsync(buf, count, dtype, op);
  return work->Wait();
}

std::unique_ptr<Work> MpiCommunicator::AllReduceAsync(void* buf, size_t count, DType dtype, ReduceOp op) {
  if (size_ == 1) return std::make_unique<DoneWork>(broken_);  // in place on one rank: nothing to do
  auto p = Start(kOpAllReduce, count, dtype);
  if (!p.ok()) return std::make_unique<DoneWork>(p.status());
  MPI_Request req = MPI_REQUEST_NULL;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, static_cast<int>(count), ToMpi(dtype), ToMpi(op), comm_, &req);
  Status st =
      rc == MPI_SUCCESS ? Status::Ok() : Status::Infra(MpiFailure("MPI_Iallreduce", rank_, rc, __LINE__));
  return std::make_unique<MpiWork>(this, req, p.value(), st);
}

Status MpiCommunicator::Broadcast(void* buf, size_t count, DType dtype, int root) {
  if (size_ == 1) return broken_;
  DRIFTRUN_ASSIGN_OR_RETURN(Pending p, Start(kOpBroadcast, count, dtype));
  MPI_Request req = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibcast(buf, static_cast<int>(count), ToMpi(dtype), root, comm_, &req), rank_);
  return Complete(&req, p);
}

Status MpiCommunicator::Barrier() {
  if (size_ == 1) return broken_;
  DRIFTRUN_ASSIGN_OR_RETURN(Pending p, Start(kOpBarrier, 0, DType::kUInt8));
  MPI_Request req = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Ibarrier(comm_, &req), rank_);
  return Complete(&req, p);
}

}  // namespace driftrun
