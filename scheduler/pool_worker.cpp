#include "scheduler/pool_worker.h"

#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "comm/collectives.h"
#include "comm/mpi_communicator.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/guard.h"
#include "reports/run_report.h"
#ifdef DRIFTRUN_WITH_CUDA
#include "comm/nccl_communicator.h"
#endif

namespace driftrun {
namespace {

constexpr int kCreateTag = 4242;  // MPI_Comm_create_group's tag (groups being made are disjoint)

// One group's communicators, kept across jobs.
struct Group {
  MPI_Comm comm = MPI_COMM_NULL;
  std::unique_ptr<MpiCommunicator> mpi;
  std::unique_ptr<Communicator> device;  // NCCL, made by the first GPU job
  int device_id = -1;
  Group() = default;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  ~Group() {
    device.reset();
    mpi.reset();
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  }
};

Result<std::unique_ptr<Group>> MakeGroup(const std::vector<int>& ranks, double timeout_s) {
  auto g = std::make_unique<Group>();
  MPI_Group world = MPI_GROUP_NULL, members = MPI_GROUP_NULL;
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  MPI_Group_incl(world, static_cast<int>(ranks.size()), ranks.data(), &members);
  const int rc = MPI_Comm_create_group(MPI_COMM_WORLD, members, kCreateTag, &g->comm);
  MPI_Group_free(&members);
  MPI_Group_free(&world);
  if (rc != MPI_SUCCESS || g->comm == MPI_COMM_NULL) {
    return Status::Infra("MPI_Comm_create_group failed for the ranks of a pool job");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(g->mpi, MpiCommunicator::Create(g->comm, timeout_s));
  return g;
}

// Appends one line to the job's log (the service reads its last driftrun line
// as the reason of a failure).
void LogLine(const std::string& log, const std::string& line) {
  std::ofstream out(log, std::ios::app);
  out << line << "\n";
}

struct JobContext {
  const PoolWorkerOptions* o;
  PoolTransport* t;
  nlohmann::json start;
  Group* group;
  std::atomic<int> stop{0};
  double last_beat = -1e9;
  bool stepped = false;  // a beat after a step went out
};

void Beat(JobContext& c, const StepProgress* p) {
  nlohmann::json b = {{"job", c.start["job"]}, {"handle", c.start["handle"]}};
  if (p) {
    b.update({{"step", p->step},
              {"total_steps", p->total_steps},
              {"epoch", p->epoch},
              {"loss", p->loss},
              {"samples_per_s", p->samples_per_s},
              {"step_s", p->step_s},
              {"allreduce_s", p->allreduce_s}});
  }
  c.t->Send(0, kBeat, b);
  c.t->Flush();
  c.last_beat = WallClock().Seconds();
}

// Between steps, on every rank: the process's own stop signal; on the leader,
// the master's stop message and the heartbeat.
void OnStep(JobContext& c, const StepProgress& p) {
  if (c.o->stop && c.o->stop->load()) c.stop = 1;
  if (c.group->mpi->rank() != 0) return;
  auto m = c.t->Receive(0, kStop);
  if (m && m->body.value("handle", "") == c.start.value("handle", "")) c.stop = 1;
  // The first step's beat goes out at once (the master then knows training
  // has begun, however fast the steps are), later ones every heartbeat_s.
  if (!c.stepped || WallClock().Seconds() - c.last_beat >= c.o->heartbeat_s) {
    Beat(c, &p);
    c.stepped = true;
  }
}

Status TrainJob(JobContext& c, TrainResult* out) {
  const std::string config = c.start.value("config", "");
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(config, {}));
  Group& g = *c.group;
  g.mpi->set_timeout_s(cfg.Float("dist.timeout_s"));
  TrainRequest req;
  req.config_path = config;
  req.run_dir = c.start.value("run_dir", "");
  req.resume = "auto";
  req.stop = &c.stop;
  req.quiet = true;
  req.code_version = c.o->code_version;
  req.local_rank = c.o->local_rank;
  req.local_size = c.o->local_size;
  req.fault = c.o->fault;
  // What resumes it by hand (the service itself relaunches it).
  req.command =
      "mpirun -np " + std::to_string(g.mpi->size()) + " driftrun train --config " + ShellQuote(config);
  req.on_step = [&c](const StepProgress& p) { OnStep(c, p); };
  req.device_comm = [&g](int device, void* stream, double timeout_s) -> Result<Communicator*> {
#ifdef DRIFTRUN_WITH_CUDA
    if (!g.device || g.device_id != device) {
      g.device.reset();
      DRIFTRUN_ASSIGN_OR_RETURN(g.device, NcclCommunicator::Create(*g.mpi, device, stream, timeout_s));
      g.device_id = device;
    }
    return g.device.get();
#else
    (void)device, (void)stream, (void)timeout_s;
    return Status::Infra("this driftrun was built without CUDA");
#endif
  };
  DRIFTRUN_ASSIGN_OR_RETURN(*out, Train(*g.mpi, cfg, req));
  // RUN/report.html, as `driftrun train` writes it; a failure is only logged.
  if (g.mpi->rank() == 0) {
    auto report = WriteRunReport(out->run_dir);
    if (!report.ok()) std::fprintf(stderr, "warning: no run report: %s\n", report.status().message().c_str());
  }
  return Status::Ok();
}

// While a job runs, this rank's stdout and stderr go to the job's log (as a
// local job's do), not to the service's console; restored after.
class LogRedirect {
 public:
  explicit LogRedirect(const std::string& log) {
    std::fflush(stdout);
    std::fflush(stderr);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    out_ = dup(STDOUT_FILENO);
    err_ = dup(STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~LogRedirect() {
    std::fflush(stdout);
    std::fflush(stderr);
    if (out_ >= 0) dup2(out_, STDOUT_FILENO), close(out_);
    if (err_ >= 0) dup2(err_, STDERR_FILENO), close(err_);
  }
  LogRedirect(const LogRedirect&) = delete;
  LogRedirect& operator=(const LogRedirect&) = delete;

 private:
  int out_ = -1, err_ = -1;
};

void RunJob(PoolTransport& t, const PoolWorkerOptions& o, const nlohmann::json& start,
            std::map<std::string, std::unique_ptr<Group>>& groups) {
  JobContext c{&o, &t, start, nullptr};
  const std::string key = start.value("key", "");
  const std::string log = start.value("log", "");
  auto& kept = groups[key];
  if (!kept) {
    auto g = MakeGroup(start.value("ranks", std::vector<int>{}), MpiCommunicator::kDefaultTimeoutS);
    if (!g.ok()) {
      t.Send(0, kFatal,
             {{"job", start["job"]}, {"handle", start["handle"]}, {"message", g.status().message()}});
      return;
    }
    kept = g.take();
  }
  c.group = kept.get();
  const bool leader = c.group->mpi->rank() == 0;
  if (leader) Beat(c, nullptr);
  TrainResult r;
  Status st;
  try {
    st = TrainJob(c, &r);
  } catch (...) {
    st = ExceptionStatus(std::current_exception(), "pool job", Code::kTraining);
  }
  r.run_lock.reset();  // the folder is free before the master hears of the end
  if (!st.message().empty())
    LogLine(log, "driftrun train: " + std::string(CodeName(st.code())) + ": " + st.message());
  if (st.code() == Code::kInfra) {
    // The group may be broken: no collective on it now; the master ends the world.
    t.Send(0, kFatal, {{"job", start["job"]}, {"handle", start["handle"]}, {"message", st.message()}});
    groups.erase(key);
    return;
  }
  // Every rank's message is in the log before the leader reports.
  if (!c.group->mpi->Barrier().ok()) {
    t.Send(0, kFatal,
           {{"job", start["job"]},
            {"handle", start["handle"]},
            {"message", "the group's closing barrier failed"}});
    return;
  }
  if (leader) {
    t.Send(0, kDone,
           {{"job", start["job"]},
            {"handle", start["handle"]},
            {"code", st.exit_code()},
            {"stopped", r.stopped},
            {"message", st.message()}});
  }
}

}  // namespace

Status RunPoolWorker(PoolTransport& t, const PoolWorkerOptions& o) {
  std::map<std::string, std::unique_ptr<Group>> groups;
  int nap_us = 200;
  for (;;) {
    t.Flush();
    auto m = t.Receive(0);
    if (!m) {
      // No busy wait: Open MPI's blocking receive would poll at full speed.
      std::this_thread::sleep_for(std::chrono::microseconds(nap_us));
      nap_us = std::min(20000, nap_us * 2);
      continue;
    }
    nap_us = 200;
    if (m->tag == kShutdown) break;
    if (m->tag == kDrop) groups.erase(m->body.value("key", ""));
    if (m->tag == kStart) RunJob(t, o, m->body, groups);
    // kStop for a job that already ended: nothing to do.
  }
  groups.clear();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!t.Flush() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return Status::Ok();
}

}  // namespace driftrun
