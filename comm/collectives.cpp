#include "comm/collectives.h"

#include <climits>
#include <cstdint>

namespace driftrun {

Status AgreeStatus(Communicator& comm, const Status& local) {
  int64_t code = static_cast<int64_t>(local.code());
  Status st = comm.AllReduce(&code, 1, DType::kInt64, ReduceOp::kMax);
  if (!st.ok()) return st;
  if (!local.ok()) return local;
  if (code == 0) return Status::Ok();
  return Status(static_cast<Code>(code), "");
}

Status DedupeStatus(Communicator& comm, const Status& st) {
  int64_t who = st.message().empty() ? INT64_MAX : comm.rank();
  Status rc = comm.AllReduce(&who, 1, DType::kInt64, ReduceOp::kMin);
  if (!rc.ok()) return st;
  if (who == comm.rank()) return st;
  return Status(st.code(), "");
}

Status AllReduceDoubles(Communicator& comm, std::vector<double>* v, ReduceOp op) {
  if (comm.size() == 1 || v->empty()) return Status::Ok();
  return comm.AllReduce(v->data(), v->size(), DType::kFloat64, op);
}

Status BroadcastString(Communicator& comm, std::string* s, int root) {
  if (comm.size() == 1) return Status::Ok();
  int64_t len = static_cast<int64_t>(s->size());
  DRIFTRUN_RETURN_IF_ERROR(comm.Broadcast(&len, 1, DType::kInt64, root));
  s->resize(static_cast<size_t>(len));
  if (len == 0) return Status::Ok();
  return comm.Broadcast(s->data(), static_cast<size_t>(len), DType::kUInt8, root);
}

}  // namespace driftrun
