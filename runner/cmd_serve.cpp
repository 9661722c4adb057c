// driftrun serve: the retraining service (scheduler/service.h) with the local
// executor, or under mpirun with the pool executor (runner/serve_pool.h);
// driftrun signal: a retrain asked for by hand, through the journal.
#include <gflags/gflags.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include "common/clock.h"
#include "common/file_lock.h"
#include "common/file_util.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "common/version.h"
#include "export/exporter.h"
#include "runner/commands.h"
#include "runner/serve_pool.h"
#include "runner/signals.h"
#include "scheduler/batch_score.h"
#include "scheduler/journal.h"
#include "scheduler/local_executor.h"
#include "scheduler/metrics_server.h"
#include "scheduler/service.h"
#include "scheduler/slurm_executor.h"
#include "scheduler/slurm_script.h"

DECLARE_string(config);
DECLARE_string(model);
DECLARE_string(reason);
DECLARE_string(by);
DECLARE_bool(json);
DEFINE_string(executor, "", "local | pool | slurm");
DEFINE_int64(max_batches, -1, "stop after this many batches");
DEFINE_double(stop_timeout_s, 120, "how long a stop waits for jobs to checkpoint");
DEFINE_int64(stop, 0, "stop this job");

namespace driftrun {

const CommandSpec kServeSpec = {
    "serve",
    "the retraining service: watch incoming batches, retrain on drift, gate and promote",
    "driftrun serve --config SERVICE.toml [--executor local] [--max-batches N] [--set section.key=value "
    "...]\n"
    "       mpirun -np N driftrun serve --config SERVICE.toml --executor pool ...\n"
    "       driftrun serve --config SERVICE.toml --executor slurm ...   (on a login node)",
    {{"config", "the service config: [service] models = [experiment configs], state, poll_s, ..."},
     {"executor",
      "where jobs run (default service.executor): local = an mpirun child process per job; pool = the "
      "worker ranks 1..N-1 of the service's own MPI world (start it with mpirun -np N; rank 0 is the "
      "master); slurm = an sbatch job per job (srun driftrun train; resources from each model's [slurm] "
      "section, one task per rank of retrain.ranks), followed with squeue/scontrol; the service holds no "
      "GPU, its "
      "shutdown leaves the jobs running and a restart follows them"},
     {"max_batches",
      "stop once this many batches are in the journal and every job has ended (default service.max_batches; "
      "0 = run until SIGTERM)"},
     {"stop_timeout_s", "on SIGTERM/SIGINT, how long to wait for running jobs to checkpoint (default 120)"}},
    true};

const CommandSpec kSignalSpec = {
    "signal",
    "ask the retraining service for a retrain of one model, or to stop a job (through its journal)",
    "driftrun signal --config SERVICE.toml --model NAME --reason TEXT [--by NAME] [--json]\n"
    "       driftrun signal --config SERVICE.toml --stop JOB [--reason TEXT] [--by NAME] [--json]",
    {{"config", "the service config"},
     {"model", "the model to retrain (its name in service.models)"},
     {"stop",
      "stop job JOB (driftrun status lists them): a queued job fails at once; a running one checkpoints at "
      "its next step on every rank (a message from the service, whatever started the ranks) and fails, its "
      "checkpoints kept"},
     {"reason", "why (recorded with the trigger or the stop; required with --model)"},
     {"by", "who asks (default $USER)"},
     {"json", "print {signal, model, journal} as JSON"}},
    true};

namespace {

std::string Stamp() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof(buf), "%H:%M:%S", std::localtime(&t));
  return buf;
}

void Say(const std::string& line) {
  std::printf("[%s] %s\n", Stamp().c_str(), EscapeForConsole(line).c_str());
  std::fflush(stdout);
}

LocalExecutorOptions LocalOptions() {
  LocalExecutorOptions o;
  o.driftrun = SelfExe();
  if (geteuid() == 0 && !std::getenv("OMPI_ALLOW_RUN_AS_ROOT"))
    o.mpirun_args.push_back("--allow-run-as-root");
  return o;
}

// Sleeps `seconds` in short slices; false when a stop signal came.
bool Nap(double seconds, const std::atomic<int>* stop) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (stop->load() != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return stop->load() == 0;
}

Status CheckState(const ServiceSetup& setup) {
  if (PathExists(setup.state) && !IsDir(setup.state)) {
    return Status::Usage("service.state '" + setup.state +
                         "' is a file; it must be a folder (journal.db, jobs/, ...)");
  }
  return Status::Ok();
}

Status NoPositional(const ParsedArgs& args) {
  if (args.positional.empty()) return Status::Ok();
  return Status::Usage("unexpected argument '" + EscapeForConsole(args.positional.front()) +
                       "'; every input is a flag (see --help)");
}

// Each model's [slurm] section as its jobs' batch scripts will take it (found
// by a stranger: a bad slurm.time surfaced only when a retrain fired, after
// the log said the job had started).
Status CheckSlurmSections(const ServiceSetup& setup) {
  for (const ModelEntry& m : setup.models) {
    SlurmOptions so = SlurmOptionsFromConfig(m.cfg);
    so.ntasks = static_cast<int>(m.ranks);
    so.job_name = m.name;
    DRIFTRUN_RETURN_IF_ERROR(
        ValidateSlurmOptions(so).WithContext("model config '" + m.config_path + "' [slurm]"));
  }
  return Status::Ok();
}

Status CheckExecutor(const std::string& executor) {
  if (executor == "local" || executor == "pool") return Status::Ok();
  if (executor == "slurm") {
    auto r = RunProcess({"squeue", "--version"}, 30);
    if (!r.ok() || r.value().exit_code != 0) {
      return Status::Infra(
          "--executor slurm needs Slurm's sbatch, squeue, scontrol and scancel on PATH and a "
          "reachable cluster (`squeue --version` " +
          (r.ok() ? "exited " + std::to_string(r.value().exit_code) : r.status().message()) +
          "); set SLURM_CONF if the cluster's slurm.conf is not in /etc/slurm");
    }
    return Status::Ok();
  }
  return Status::Usage("unknown executor '" + EscapeForConsole(executor) +
                       "'; choose local (an mpirun child per job), pool (mpirun -np N driftrun serve "
                       "--executor pool: jobs on the worker ranks) or slurm (an sbatch job per job)");
}

// Each model's registry, before anything is created or trained: a damaged
// database would read as "no production version yet" further on, and so would
// one that is not where the journal's promotions went (no folder is made for
// it then).
Status CheckRegistries(const ServiceSetup& setup) {
  std::unique_ptr<Journal> jn;
  if (PathExists(setup.Journal())) {
    DRIFTRUN_ASSIGN_OR_RETURN(jn, Journal::Open(setup.Journal(), false));
  }
  for (const ModelEntry& m : setup.models) DRIFTRUN_RETURN_IF_ERROR(CheckModelAtStart(m, jn.get()));
  return Status::Ok();
}

// The state folder's lock, then each model's; a refused one releases the
// others and leaves no state folder behind that this call created.
Status TakeServiceLocks(const ServiceSetup& setup, std::vector<FileLock>* locks) {
  std::string created = setup.state;  // the outermost folder this call creates, if any
  while (!PathExists(DirName(created)) && DirName(created) != created) created = DirName(created);
  const bool fresh = !PathExists(setup.state);
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(setup.state));
  std::string warning;
  Status st = [&]() -> Status {
    DRIFTRUN_ASSIGN_OR_RETURN(
        FileLock lock,
        FileLock::Acquire(setup.state + "/service.lock", "state folder '" + setup.state + "'", &warning));
    locks->push_back(std::move(lock));
    if (!warning.empty()) Say(warning);
    for (const ModelEntry& m : setup.models) {
      // Found by a stranger: a mistyped folder was created and watched in silence.
      if (!m.incoming.empty() && !PathExists(m.incoming))
        Say("model " + m.name + ": warning: monitor.incoming " + m.incoming +
            " did not exist: created it (empty); check the path if batches are written elsewhere");
      if (!m.incoming.empty()) DRIFTRUN_RETURN_IF_ERROR(MakeDirs(m.incoming).WithContext("monitor.incoming"));
      DRIFTRUN_RETURN_IF_ERROR(MakeDirs(m.registry).WithContext("registry.path"));
      DRIFTRUN_ASSIGN_OR_RETURN(
          FileLock model_lock,
          FileLock::Acquire(m.registry + "/serve-" + m.name + ".lock",
                            "model '" + m.name + "' (kept by a driftrun serve)", &warning));
      locks->push_back(std::move(model_lock));
      Say("model " + m.name + ": registry " + m.registry +
          (m.incoming.empty() ? "; not watched (monitor.incoming is empty)" : "; watching " + m.incoming));
    }
    return Status::Ok();
  }();
  if (st.ok()) return st;
  locks->clear();
  if (fresh) {  // only the lock file in it: this call's own, with the folders made for it
    const std::vector<std::string> left = ListDir(setup.state);
    if (left.empty() || (left.size() == 1 && left[0] == "service.lock")) RemoveTree(created);
  }
  return st;
}

Status Serve(const ServiceSetup& setup, Executor& exec, int64_t max_batches, const std::atomic<int>* stop) {
  const std::string executor = exec.name();
  // Every version the service registers carries its ONNX file: a missing
  // exporter is refused now, not retried after the first job has trained.
  DRIFTRUN_RETURN_IF_ERROR(CheckExporter());
  DRIFTRUN_RETURN_IF_ERROR(CheckStepSwitches());  // what every job's train reads
  DRIFTRUN_RETURN_IF_ERROR(CheckRegistries(setup));
  std::vector<FileLock> locks;  // the state folder, and each model (two services never keep one model)
  DRIFTRUN_RETURN_IF_ERROR(TakeServiceLocks(setup, &locks));
  DRIFTRUN_ASSIGN_OR_RETURN(auto journal, Journal::Open(setup.Journal(), true));
  DRIFTRUN_RETURN_IF_ERROR(journal->CheckIntegrity());
  std::unique_ptr<MetricsServer> metrics;
  if (!setup.cfg.Str("service.metrics").empty()) {
    MetricsServerOptions mo;
    mo.address = setup.cfg.Str("service.metrics");
    mo.allow_remote = setup.cfg.Bool("service.metrics_allow_remote");
    mo.setup = &setup;
    mo.executor = executor;
    // The pool's workers and heartbeats; the other executors' jobs report
    // through their run folders (found by a stranger: the Slurm executor's
    // snapshot was taken for a pool's, and running jobs had no series).
    if (executor == "pool") mo.pool_snapshot = [&exec] { return exec.Snapshot(); };
    DRIFTRUN_ASSIGN_OR_RETURN(metrics, MetricsServer::Start(mo));
    Say("metrics: http://" +
        (metrics->host().find(':') != std::string::npos ? "[" + metrics->host() + "]" : metrics->host()) +
        ":" + std::to_string(metrics->port()) + "/metrics");
  }
  // Once it runs (found by a stranger: a serve refused its metrics port still
  // rewrote it): status, signal and replay read it as the service runs.
  DRIFTRUN_RETURN_IF_ERROR(setup.RecordServed());
  ServiceContext ctx;
  ctx.setup = &setup;
  ctx.journal = journal.get();
  ctx.executor = &exec;
  ctx.clock = &WallClock();
  ctx.say = Say;
  ctx.max_jobs = setup.cfg.Int("service.max_jobs");
  ctx.max_ranks =
      exec.Ranks() > 0 ? exec.Ranks() : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Service service(&ctx);
  Say("serving " + std::to_string(setup.models.size()) + " model(s) [" + Join(setup.Names(), ", ") +
      "]; state " + setup.state + "; executor " + executor + "; poll every " +
      FormatDouble(setup.cfg.Float("service.poll_s")) + " s" +
      (max_batches > 0 ? "; stops after " + std::to_string(max_batches) + " batches" : ""));
  int infra_errors = 0;
  for (;;) {
    Status st = service.Step();
    if (!st.ok()) {
      if (st.code() != Code::kInfra) return st;
      if (++infra_errors >= 30)
        return Status(st.code(), st.message() +
                                     " (failed at 30 polls in a row: the service stops; fix the "
                                     "cause and start it again)");
      Say("will retry: " + st.message());
    } else {
      infra_errors = 0;
    }
    DRIFTRUN_ASSIGN_OR_RETURN(bool done, service.Done(max_batches));
    if (done) {
      // Found by a stranger: the count said max_batches, not what the journal holds.
      DRIFTRUN_ASSIGN_OR_RETURN(int64_t held, service.CountBatches());
      Say("done: the journal holds " + std::to_string(held) + " batches (service.max_batches = " +
          std::to_string(max_batches) + ") and no job is queued or running");
      return Status::Ok();
    }
    if (!Nap(setup.cfg.Float("service.poll_s"), stop)) break;
  }
  Say(exec.Detached() ? "stopping: Slurm jobs keep running; a restart follows them by their job ids"
                      : "stopping: running jobs checkpoint at their next step; a restart continues them");
  return service.Shutdown(FLAGS_stop_timeout_s);
}

}  // namespace

int RunServe(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kServeSpec, argc, argv, &args, &code)) return code;
  if (!NoPositional(args).ok()) return ReportStatus("serve", NoPositional(args));
  if (FLAGS_max_batches < -1) return ReportStatus("serve", Status::Usage("--max-batches must be >= 0"));
  // --max-batches N is --set service.max_batches=N (the loop reads the config).
  if (FLAGS_max_batches >= 0) args.sets.push_back("service.max_batches=" + std::to_string(FLAGS_max_batches));
  auto setup = ServiceSetup::Load(FLAGS_config, args.sets);
  if (!setup.ok()) return ReportStatus("serve", setup.status());
  const ServiceSetup& su = setup.value();
  const std::string executor = FLAGS_executor.empty() ? su.cfg.Str("service.executor") : FLAGS_executor;
  Status st = CheckExecutor(executor);
  if (st.ok() && executor == "slurm" && (std::getenv("OMPI_COMM_WORLD_RANK") || std::getenv("PMIX_RANK"))) {
    st = Status::Usage(
        "the slurm executor submits each job with sbatch: run `driftrun serve --executor slurm` as "
        "one process (on a login or CPU node), not under mpirun or srun");
  }
  if (st.ok() && executor == "local" && (std::getenv("OMPI_COMM_WORLD_RANK") || std::getenv("PMIX_RANK"))) {
    // Under mpirun every rank would start its own service, and each job's
    // mpirun would be refused as a recursive call.
    st = Status::Usage(
        "the local executor starts an mpirun per job itself: run `driftrun serve --executor local` without "
        "mpirun, or use `mpirun -np N driftrun serve --executor pool` to run the jobs on the ranks of this "
        "world");
  }
  if (st.ok() && executor == "slurm") st = CheckSlurmSections(su);
  if (st.ok()) st = CheckState(su);
  if (!st.ok()) return ReportStatus("serve", st);
  const std::atomic<int>* stop = InstallStopHandlers();
  const int64_t max_batches = su.cfg.Int("service.max_batches");
  if (executor == "pool") {
    ServePoolArgs a;
    a.setup = &su;
    a.serve = [&](Executor& exec) { return Serve(su, exec, max_batches, stop); };
    a.say = Say;
    a.stop = stop;
    a.code_version = kCodeVersion;
    return ServePool(a, &argc, &argv);
  }
  if (executor == "slurm") {
    SlurmExecutorOptions so;
    so.driftrun = SelfExe();
    so.workdir = AbsolutePath(".");
    SlurmExecutor slurm(so);
    return ReportStatus("serve", Serve(su, slurm, max_batches, stop));
  }
  LocalExecutor local(LocalOptions());
  return ReportStatus("serve", Serve(su, local, max_batches, stop));
}

namespace {

std::string SignalBy() {
  if (!FLAGS_by.empty()) return FLAGS_by;
  const char* user = std::getenv("USER");
  if (user && *user) return user;
  const passwd* pw = getpwuid(geteuid());  // $USER is unset under sudo -i, cron, containers
  return pw && pw->pw_name ? pw->pw_name : "unknown";
}

// driftrun signal --stop JOB: checked against the journal, then recorded.
int StopSignal(const ServiceSetup& setup, const ParsedArgs& args) {
  Status st = NoPositional(args);
  if (st.ok() && !FLAGS_model.empty())
    st = Status::Usage("--stop JOB takes no --model (the job names its model)");
  if (st.ok() && FLAGS_stop < 1)
    st = Status::Usage("--stop takes a job id >= 1 (driftrun status lists them)");
  if (!st.ok()) return ReportStatus("signal", st);
  auto journal = Journal::Open(setup.Journal(), false);
  if (!journal.ok()) return ReportStatus("signal", journal.status());
  auto job = journal.value()->Job(FLAGS_stop);
  if (!job.ok()) {
    return ReportStatus("signal", Status::Usage("there is no job " + std::to_string(FLAGS_stop) + " in " +
                                                setup.Journal() + " (driftrun status lists the jobs)"));
  }
  const JobState state = job.value().state;
  if (state != JobState::kQueued && state != JobState::kRunning) {
    return ReportStatus("signal",
                        Status::Usage("job " + std::to_string(FLAGS_stop) + " is " + JobStateName(state) +
                                      ": only a queued or running job can be stopped"));
  }
  SignalRecord s;
  s.model = job.value().model;
  s.reason = FLAGS_reason.empty() ? "no reason given" : FLAGS_reason;
  s.by = SignalBy();
  s.at = WallClock().Seconds();
  s.stop_job = FLAGS_stop;
  auto id = journal.value()->AddSignal(s);
  if (!id.ok()) return ReportStatus("signal", id.status());
  if (FLAGS_json) {
    std::cout << nlohmann::json{{"signal", id.value()},
                                {"stop_job", FLAGS_stop},
                                {"model", s.model},
                                {"journal", setup.Journal()}}
                     .dump()
              << "\n";
  } else {
    const bool live = !LiveLockHolder(setup.state + "/service.lock").empty();
    std::cout << "signal " << id.value() << " recorded: the service stops job " << FLAGS_stop << " ("
              << EscapeForConsole(s.model) << ", " << JobStateName(state) << ") "
              << (live ? "at its next poll; a running job checkpoints first"
                       : "when it starts again (it is not running now)")
              << "\n";
  }
  return 0;
}

}  // namespace

int RunSignal(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kSignalSpec, argc, argv, &args, &code)) return code;
  std::string note;  // the service's own --set values (a model it adds, say)
  auto setup = ServiceSetup::LoadAsServed(FLAGS_config, args.sets, &note);
  if (!setup.ok()) return ReportStatus("signal", setup.status());
  if (!gflags::GetCommandLineFlagInfoOrDie("stop").is_default) return StopSignal(setup.value(), args);
  if (FLAGS_model.empty() || FLAGS_reason.empty()) {
    return ReportStatus("signal",
                        Status::Usage("--model NAME and --reason TEXT are required (or --stop JOB)"));
  }
  if (!setup.value().Find(FLAGS_model)) {
    const std::string near = ClosestMatch(FLAGS_model, setup.value().Names(), 3);
    return ReportStatus("signal", Status::Usage("model '" + FLAGS_model + "' is not in service.models (" +
                                                Join(setup.value().Names(), ", ") + ")" +
                                                (near.empty() ? "" : "; did you mean '" + near + "'?")));
  }
  Status st = NoPositional(args);
  if (st.ok()) st = CheckState(setup.value());
  // Found by strangers: a mistyped service.state (a new folder, or any
  // existing one) got a journal no service reads, and a "recorded" reply.
  if (st.ok() && !PathExists(setup.value().Journal())) {
    st = Status::Usage("no journal at " + setup.value().Journal() +
                       ": has the service run with this state folder? (driftrun serve creates it; check "
                       "service.state)");
  }
  if (!st.ok()) return ReportStatus("signal", st);
  auto journal = Journal::Open(setup.value().Journal(), false);
  if (!journal.ok()) return ReportStatus("signal", journal.status());
  SignalRecord s;
  s.model = FLAGS_model;
  s.reason = FLAGS_reason;
  s.by = SignalBy();
  s.at = WallClock().Seconds();
  auto id = journal.value()->AddSignal(s);
  if (!id.ok()) return ReportStatus("signal", id.status());
  if (FLAGS_json) {
    std::cout << nlohmann::json{{"signal", id.value()},
                                {"model", s.model},
                                {"journal", setup.value().Journal()}}
                     .dump()
              << "\n";
  } else {
    std::string status = "driftrun status --config " + ShellQuote(FLAGS_config);
    for (const std::string& kv : args.sets) status += " --set " + ShellQuote(kv);
    std::cout << "signal " << id.value() << " recorded for " << EscapeForConsole(s.model)
              << ": the service takes it at its next poll (a retrain, within trigger.max_per_day; "
              << EscapeForConsole(status) << ")\n";
  }
  return 0;
}

}  // namespace driftrun
