#include "scheduler/pool_transport.h"

#include <mpi.h>

#include <deque>
#include <string>

namespace driftrun {
namespace {

class MpiPoolTransport : public PoolTransport {
 public:
  MpiPoolTransport(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ~MpiPoolTransport() override {
    Flush();
    MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void Send(int to, int tag, const nlohmann::json& body) override {
    pending_.push_back({body.dump(), MPI_REQUEST_NULL});
    Outgoing& o = pending_.back();
    MPI_Isend(o.text.data(), static_cast<int>(o.text.size()), MPI_CHAR, to, tag, comm_, &o.req);
  }

  std::optional<PoolMessage> Receive(int from, int tag) override {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(from < 0 ? MPI_ANY_SOURCE : from, tag < 0 ? MPI_ANY_TAG : tag, comm_, &flag, &st);
    if (!flag) return std::nullopt;
    int n = 0;
    MPI_Get_count(&st, MPI_CHAR, &n);
    std::string text(static_cast<size_t>(n), '\0');
    MPI_Recv(text.data(), n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, comm_, MPI_STATUS_IGNORE);
    PoolMessage m;
    m.source = st.MPI_SOURCE;
    m.tag = st.MPI_TAG;
    m.body = nlohmann::json::parse(text, nullptr, false);
    if (m.body.is_discarded()) m.body = nlohmann::json::object();
    return m;
  }

  bool Flush() override {
    while (!pending_.empty()) {
      int done = 0;
      MPI_Test(&pending_.front().req, &done, MPI_STATUS_IGNORE);
      if (!done) return false;
      pending_.pop_front();
    }
    return true;
  }

 private:
  struct Outgoing {
    std::string text;
    MPI_Request req;
  };
  MPI_Comm comm_;
  int rank_, size_;
  std::deque<Outgoing> pending_;  // a deque: buffers stay where MPI_Isend saw them
};

}  // namespace

Result<PoolWorld> MakePoolWorld() {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm ctrl = MPI_COMM_NULL, node = MPI_COMM_NULL;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &ctrl) != MPI_SUCCESS ||
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) != MPI_SUCCESS) {
    return Status::Infra("the pool executor could not set up its MPI communicators");
  }
  // A node is named by its lowest world rank.
  int leader = rank;
  MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  PoolWorld w;
  w.node_of_rank.assign(static_cast<size_t>(size), 0);
  MPI_Allgather(&leader, 1, MPI_INT, w.node_of_rank.data(), 1, MPI_INT, MPI_COMM_WORLD);
  w.transport = std::make_unique<MpiPoolTransport>(ctrl, rank, size);
  return w;
}

}  // namespace driftrun
