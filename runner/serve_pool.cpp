#include "runner/serve_pool.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "common/clock.h"
#include "common/file_util.h"
#include "runner/cli.h"
#include "runner/commands.h"
#include "runner/mpi_env.h"
#include "scheduler/journal.h"
#include "scheduler/pool_executor.h"
#include "scheduler/pool_worker.h"

namespace driftrun {
namespace {

// What ends the world, written where people and the restarted service look:
// the job's log and its journal events.
void RecordFatal(const ServePoolArgs& a, int64_t job, const std::string& message) {
  a.say("fatal: " + message);
  if (job <= 0) return;
  const std::string log = a.setup->state + "/jobs/" + std::to_string(job) + "/train.log";
  std::ofstream(log, std::ios::app) << "driftrun serve: infrastructure failure: " << message << "\n";
  auto jn = Journal::Open(a.setup->Journal(), false);
  if (!jn.ok()) return;
  auto j = jn.value()->Job(job);
  if (j.ok())
    (void)jn.value()->UpdateJob(j.value(), j.value().state, "pool: " + message, WallClock().Seconds());
}

// Rank 0: the service on a thread, the pool's messages on this one.
Status Master(const ServePoolArgs& a, PoolWorld& world, MpiEnv& env) {
  PoolOptions o;
  for (int r = 1; r < env.size(); ++r) {
    o.workers.push_back(r);
    o.node_of.push_back(world.node_of_rank[static_cast<size_t>(r)]);
  }
  o.heartbeat_timeout_s = a.setup->cfg.Float("service.heartbeat_timeout_s");
  PoolExecutor pool(o, world.transport.get());
  std::atomic<bool> done{false};
  Status result;
  std::thread service([&] {
    result = a.serve(pool);
    done = true;
  });
  const std::string snapshot = a.setup->state + "/pool.json";
  double written = 0;
  int nap_us = 500;
  while (!done) {
    int64_t job = 0;
    auto busy = pool.Pump(&job);
    if (!busy.ok()) {
      RecordFatal(a, job, busy.status().message());
      ReportStatus("serve", busy.status());
      env.Abort(5);
    }
    const double now = WallClock().Seconds();
    // For driftrun status: soon after a change, else once a second.
    if ((now - written >= 1.0 || (busy.value() && now - written >= 0.2)) && IsDir(a.setup->state)) {
      (void)WriteFileAtomic(snapshot, pool.Snapshot().dump());
      written = now;
    }
    // Quick after traffic, then a nap growing to 10 ms: no spinning while idle.
    nap_us = busy.value() ? 500 : std::min(10000, nap_us * 2);
    std::this_thread::sleep_for(std::chrono::microseconds(nap_us));
  }
  service.join();
  (void)WriteFileAtomic(snapshot, pool.Snapshot().dump());
  pool.Shutdown(10);
  return result;
}

}  // namespace

int ServePool(const ServePoolArgs& a, int* argc, char*** argv) {
  auto env_or = MpiEnv::Init(argc, argv);
  if (!env_or.ok()) return ReportStatus("serve", env_or.status());
  std::unique_ptr<MpiEnv> env(env_or.value());
  if (env->size() < 2) {
    return ReportStatus(
        "serve",
        Status::Usage("the pool executor runs jobs on the ranks of its own MPI world, and this one has "
                      "a single rank: start it with mpirun -np N driftrun serve --executor pool ... "
                      "(N >= 2: rank 0 is the master, ranks 1..N-1 the workers), or use --executor local"));
  }
  auto world = MakePoolWorld();
  if (!world.ok())
    return env->rank() == 0 ? ReportStatus("serve", world.status()) : world.status().exit_code();
  Status st;
  if (env->rank() == 0) {
    a.say("pool: " + std::to_string(env->size() - 1) + " worker rank(s) (world ranks 1.." +
          std::to_string(env->size() - 1) + "); rank 0 is the master");
    st = Master(a, world.value(), *env);
  } else {
    PoolWorkerOptions o;
    o.heartbeat_s = std::min(2.0, a.setup->cfg.Float("service.heartbeat_timeout_s") / 4);
    o.stop = a.stop;
    o.local_rank = env->local_rank();
    o.local_size = env->local_size();
    o.code_version = a.code_version;
    o.fault = FaultFromEnv();
    st = RunPoolWorker(*world.value().transport, o);
  }
  world.value().transport.reset();  // its communicator, before MPI_Finalize
  return env->rank() == 0 ? ReportStatus("serve", st) : st.exit_code();
}

}  // namespace driftrun
