// driftrun train: data-parallel training from a config file.
#include <gflags/gflags.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "comm/collectives.h"
#include "comm/mpi_communicator.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/guard.h"
#include "common/text.h"
#include "common/version.h"
#include "export/exporter.h"
#include "models/checkpoint.h"
#include "reports/run_report.h"
#include "runner/commands.h"
#include "runner/mpi_env.h"
#include "runner/signals.h"
#include "scheduler/register_run.h"
#include "scheduler/slurm_attempts.h"
#include "tracking/mlflow_tracker.h"
#include "trainers/run_log.h"
#include "trainers/trainer.h"

DEFINE_string(config, "", "experiment config (TOML)");
DEFINE_string(run_dir, "", "run folder");
DEFINE_string(resume, "", "auto | run folder | checkpoint");
DEFINE_bool(quiet, false, "no per-epoch lines");
DEFINE_bool(progress, true, "progress bar on a terminal");
DEFINE_bool(overwrite, false, "delete the run in --run-dir and start it over");
DEFINE_bool(allow_config_change, false, "resume under a config that differs from the run's own");
DEFINE_bool(slurm, false, "the task of a driftrun submit batch job");
DECLARE_string(trigger);

namespace driftrun {

const CommandSpec kTrainSpec = {
    "train",
    "train a model data-parallel over the MPI ranks it was started on",
    "mpirun -np N driftrun train --config FILE [--set section.key=value ...] [--run-dir DIR] "
    "[--resume auto|PATH]\n       driftrun train --config FILE ...   (one rank, no mpirun needed)",
    {{"config", "experiment config (TOML); every key and its default: configs/README.md"},
     {"run_dir",
      "run folder; default runs/<name>-<YYYYmmdd-HHMMSS>. Holds config.resolved.toml, "
      "events.jsonl, metrics.jsonl, summary.json, checkpoints/"},
     {"resume",
      "'auto': continue from the newest valid checkpoint of --run-dir (or of the newest "
      "runs/<name>-<time> folder of exactly this name), else start fresh (a run folder with no valid "
      "checkpoint, e.g. one that failed at its first steps, is refused, exit 3: --overwrite starts it over); "
      "or a run folder or checkpoint path. The run continues under its own config.resolved.toml (see "
      "--allow-config-change). A corrupt "
      "checkpoint is skipped with a warning. Resuming on another number of ranks works"},
     {"overwrite",
      "--run-dir names a folder that already holds a run: delete it and start over (without this, and "
      "without --resume, such a folder is refused so that two runs never mix)"},
     {"allow_config_change",
      "resume although --config/--set differ from the run's config.resolved.toml (each changed key is "
      "recorded in events.jsonl); without it such a resume is refused, naming each key"},
     {"slurm",
      "(written by `driftrun submit` into its batch script) inside a Slurm job: keep <run-dir>/slurm/"
      "attempts.jsonl; on slurm.signal (the time-limit warning) checkpoint and requeue the job, at most "
      "slurm.max_requeues times; refuse to run after more than that many lost attempts (node failures)"},
     {"quiet", "no per-epoch console lines (events and metrics are still written)"},
     {"trigger",
      "what started this run (a drift report path, a signal id); recorded as the registered version's "
      "trigger when [registry] register = true (default manual)"},
     {"progress",
      "draw a progress bar when stdout is a terminal (under mpirun rank 0's stdout is a "
      "terminal even when mpirun's output is piped: pass --noprogress there)"}},
    true};

namespace {

// Rank 0, after a finished run: model.onnx into the run folder ([export] onnx)
// and registration ([registry] register). For a run that had finished before
// (resumed again), only what is missing: the export when model.onnx is absent;
// registration is idempotent.
Status AfterTraining(const Config& cfg, const std::string& run_dir, bool finished_before, bool* changed) {
  RunLog log(run_dir, true);
  std::string ckpt;
  std::map<std::string, std::string> lineage;
  const bool exported = finished_before && PathExists(run_dir + "/model.onnx");
  if ((cfg.Bool("export.onnx") || cfg.Bool("registry.register")) && !exported) {
    DRIFTRUN_ASSIGN_OR_RETURN(ckpt, RunCheckpoint(run_dir));
    DRIFTRUN_ASSIGN_OR_RETURN(lineage, RunLineage(run_dir));
    DRIFTRUN_ASSIGN_OR_RETURN(ExportResult e, RunExporter(ckpt, run_dir + "/model.onnx", lineage));
    (void)log.Event("export",
                    {{"onnx", e.path}, {"bytes", e.bytes}, {"sha256", e.sha256}, {"seconds", e.seconds}});
    *changed = true;
    if (!FLAGS_quiet)
      std::printf("exported %s (%lld bytes)\n", EscapeForConsole(e.path).c_str(),
                  static_cast<long long>(e.bytes));
  }
  if (cfg.Bool("registry.register")) {
    if (ckpt.empty()) {
      DRIFTRUN_ASSIGN_OR_RETURN(ckpt, RunCheckpoint(run_dir));
      DRIFTRUN_ASSIGN_OR_RETURN(lineage, RunLineage(run_dir));
    }
    RegisterRunOptions o;
    o.registry = cfg.Str("registry.path");
    o.trigger = FLAGS_trigger;
    o.checkpoint = ckpt;
    o.lineage = lineage;
    bool existed = false;
    o.existed = &existed;
    DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, RegisterRun(run_dir, o));
    if (!existed) {
      (void)log.Event("register", {{"registry", o.registry}, {"name", v.name}, {"version", v.version}});
      *changed = true;
    }
    if (!FLAGS_quiet) {
      std::printf(
          existed ? "already registered as %s:%lld in %s\n" : "registered %s:%lld (alias candidate) in %s\n",
          EscapeForConsole(v.name).c_str(), static_cast<long long>(v.version),
          EscapeForConsole(o.registry).c_str());
    }
  }
  return Status::Ok();
}

// RUN/report.html, of a finished, stopped or failed run; a report that cannot
// be written costs a warning, never the run.
void WriteReportOrWarn(const std::string& run_dir) {
  auto r = WriteRunReport(run_dir);
  if (!r.ok()) {
    std::cerr << "warning: no run report: " << r.status().message() << "\n";
  } else if (!FLAGS_quiet) {
    std::printf("report %s\n", EscapeForConsole(r.value()).c_str());
  }
}

// The command that started this run, without --run-dir and --resume: what the
// stop message tells people to run again (ranks and overrides included).
std::string RelaunchCommand(const char* argv0, int ranks, const std::vector<std::string>& sets) {
  std::string c = ranks > 1 ? "mpirun -np " + std::to_string(ranks) + " " : "";
  c += ShellQuote(argv0) + " train --config " + ShellQuote(FLAGS_config);
  for (const auto& kv : sets) c += " --set " + ShellQuote(kv);
  return c;
}

}  // namespace

namespace {

// --slurm, all ranks before training: rank 0 records the attempt or refuses it
// (the requeue budget, scheduler/slurm_attempts.h); every rank gets the verdict.
Status SlurmBegin(Communicator& world, const Config& cfg, const SlurmJobEnv& job) {
  Status local;
  if (!job.in_job) {
    local = Status::Usage(
        "--slurm runs inside a Slurm job (SLURM_JOB_ID is not set): it is written by `driftrun "
        "submit` into its batch script; outside Slurm, leave it out");
  } else if (FLAGS_run_dir.empty()) {
    local = Status::Usage("--slurm needs --run-dir (the batch script's fixed run folder)");
  } else if (world.rank() == 0) {
    local = BeginAttempt(FLAGS_run_dir, job, static_cast<int>(cfg.Int("slurm.max_requeues")));
  }
  return AgreeStatus(world, local);
}

// --slurm, rank 0 after training: the attempt's end, and the requeue when the
// time-limit signal stopped it.
Status SlurmEnd(const Config& cfg, const SlurmJobEnv& job, const Status& st, bool stopped, int stop_signal,
                int64_t step) {
  const std::string& sig = cfg.Str("slurm.signal");
  const int time_signal = sig == "USR2" ? SIGUSR2 : SIGUSR1;
  AttemptEnd how = !st.ok()                     ? AttemptEnd::kFailed
                   : !stopped                   ? AttemptEnd::kDone
                   : stop_signal == time_signal ? AttemptEnd::kTimeLimit
                                                : AttemptEnd::kStopped;
  std::string said;
  Status end = EndAttempt(FLAGS_run_dir, job, how, step, st.exit_code(),
                          static_cast<int>(cfg.Int("slurm.max_requeues")), &said);
  if (!said.empty()) std::printf("%s\n", said.c_str());
  return st.ok() ? end : st;
}

}  // namespace

// Test hooks (tests/integration/test_resume.py, test_deadline.py): on rank
// DRIFTRUN_FAULT_RANK (default the last), before step K:
// DRIFTRUN_FAULT_SIGNAL_AT_STEP=K raises SIGTERM; DRIFTRUN_FAULT_SLEEP_AT_STEP=K
// sleeps DRIFTRUN_FAULT_SLEEP_S seconds (default 3600) outside MPI, a hung rank.
FaultInjection FaultFromEnv() {
  FaultInjection f;
  const char* step = std::getenv("DRIFTRUN_FAULT_SIGNAL_AT_STEP");
  const char* rank = std::getenv("DRIFTRUN_FAULT_RANK");
  const char* sleep_at = std::getenv("DRIFTRUN_FAULT_SLEEP_AT_STEP");
  const char* sleep_s = std::getenv("DRIFTRUN_FAULT_SLEEP_S");
  if (sleep_at && *sleep_at) f.sleep_at_step = std::atoll(sleep_at);
  f.sleep_s = sleep_s && *sleep_s ? std::atof(sleep_s) : 3600;
  if (step && *step) f.signal_at_step = std::atoll(step);
  if (rank && *rank) f.rank = std::atoi(rank);
  return f;
}

namespace {

struct TrainOutcome {
  bool stopped = false;
  int64_t step = 0;
  std::string run_dir;
};

// [mlflow] tracking_uri: checked on every rank (a bad URI is exit 2 on all of
// them); rank 0 logs the run. Null when tracking is off.
Result<std::unique_ptr<MlflowTracker>> MakeTracker(const MpiEnv& env, const Config& cfg, TrainRequest* req) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto t, MlflowTracker::Create(cfg, req->code_version));
  if (!t || env.rank() != 0) return std::unique_ptr<MlflowTracker>();
  MlflowTracker* tracker = t.get();
  req->on_start = [tracker](const std::string& run_dir, bool resuming) { tracker->Start(run_dir, resuming); };
  req->on_epoch = [tracker](const nlohmann::json& row) { tracker->LogEpoch(row); };
  return t;
}

void FinishTracking(MlflowTracker* tracker, const Status& st, const TrainOutcome& out,
                    const std::atomic<int>* stop) {
  if (!tracker) return;
  const char* status = !st.ok() ? "FAILED" : out.stopped ? "KILLED" : "FINISHED";
  tracker->Finish(status, {out.run_dir + "/model.onnx", out.run_dir + "/report.html"}, stop);
}

TrainRequest MakeRequest(const MpiEnv& env, const std::atomic<int>* stop, const std::string& command) {
  TrainRequest req;
  req.config_path = FLAGS_config;
  req.run_dir = FLAGS_run_dir;
  req.resume = FLAGS_resume;
  req.stop = stop;
  req.progress_bar = FLAGS_progress && !FLAGS_quiet && env.rank() == 0 && isatty(STDOUT_FILENO);
  req.quiet = FLAGS_quiet;
  req.code_version = kCodeVersion;
  req.local_rank = env.local_rank();
  req.local_size = env.local_size();
  req.fault = FaultFromEnv();
  req.overwrite = FLAGS_overwrite;
  req.allow_config_change = FLAGS_allow_config_change;
  req.command = command;
  return req;
}

// The step switches for benchmarks and tests: DRIFTRUN_AUTOGRAD_STEP=1 keeps
// autograd's backward where the hand-written MLP backward applies
// (scripts/bench/train_vs_ddp.sh); DRIFTRUN_STEP_PIPELINE=0 or 1 chooses the
// step loop that waits for each step's loss, or the one that reads it while
// the next step runs (default: the latter on CUDA).
Status ReadStepSwitches(TrainRequest* req) {
  DRIFTRUN_ASSIGN_OR_RETURN(int autograd, EnvSwitch("DRIFTRUN_AUTOGRAD_STEP"));
  DRIFTRUN_ASSIGN_OR_RETURN(req->step_pipeline, EnvSwitch("DRIFTRUN_STEP_PIPELINE"));
  req->autograd_step = autograd == 1;
  return Status::Ok();
}

// Collective: training, then (rank 0) export and registration.
Status TrainAndFinish(Communicator& world, const Config& cfg, const TrainRequest& req, TrainOutcome* out) {
  try {
    auto r = Train(world, cfg, req);
    if (!r.ok()) {
      // A run that failed after it started (a NaN loss, bad rows, a lost rank)
      // gets its report too: the loss curve up to the failure and its reason.
      if (world.rank() == 0 && !out->run_dir.empty()) WriteReportOrWarn(out->run_dir);
      return r.status();
    }
    out->stopped = r.value().stopped;
    out->step = r.value().steps;
    out->run_dir = r.value().run_dir;
    // The run folder stays locked (r's run_lock) through export, registration
    // and the report.
    if (world.rank() != 0) return Status::Ok();
    const bool finished_before = r.value().already_finished;
    bool changed = !finished_before;
    Status st =
        out->stopped ? Status::Ok() : AfterTraining(cfg, r.value().run_dir, finished_before, &changed);
    // Resuming a finished run changes nothing (found by a stranger: its
    // report was written again), unless an export or registration was missing.
    if (changed || !st.ok() || !PathExists(r.value().run_dir + "/report.html"))
      WriteReportOrWarn(r.value().run_dir);
    return st;
  } catch (...) {
    // Train() maps its own exceptions; this is export or registration on rank 0.
    return ExceptionStatus(std::current_exception(), "after training", Code::kTraining);
  }
}

}  // namespace

int RunTrain(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kTrainSpec, argc, argv, &args, &code)) return code;
  if (!args.positional.empty()) {
    return ReportStatus("train", Status::Usage("unexpected argument '" + args.positional[0] +
                                               "'; did you mean --config " + args.positional[0] + "?"));
  }
  if (FLAGS_config.empty()) {
    return ReportStatus("train", Status::Usage("--config FILE is required (examples: configs/demo.toml)"));
  }
  const std::string argv0 = argv[0];
  const std::atomic<int>* stop = InstallStopHandlers();
  auto env_or = MpiEnv::Init(&argc, &argv);
  if (!env_or.ok()) return ReportStatus("train", env_or.status());
  std::unique_ptr<MpiEnv> env(env_or.value());

  // mpirun's ':' form can hand each rank its own command line: a rank whose
  // config fails must not leave the others waiting in the first collective.
  auto cfg = Config::Load(FLAGS_config, args.sets);
  Status loaded = cfg.ok() ? CheckExperimentConfig(cfg.value(), FLAGS_config) : cfg.status();
  if (loaded = env->Agree(loaded); !loaded.ok()) return ReportStatus("train", loaded);
  auto world_or = MpiCommunicator::Create(MPI_COMM_WORLD, cfg.value().Float("dist.timeout_s"));
  if (!world_or.ok()) {
    return env->rank() == 0 ? ReportStatus("train", world_or.status()) : world_or.status().exit_code();
  }
  MpiCommunicator& world = *world_or.value();
  // Under --slurm the job requeues itself, or is continued by submitting its folder again.
  TrainRequest req = MakeRequest(*env, stop, RelaunchCommand(argv0.c_str(), env->size(), args.sets));
  if (FLAGS_slurm)  // a requeued job continues by itself; a cancelled one is submitted again
    req.resume_command = "driftrun submit --config " + ShellQuote(FLAGS_config) + " --run-dir " +
                         ShellQuote(FLAGS_run_dir) + "   # a requeued job continues by itself";
  const SlurmJobEnv job = SlurmJobFromEnv();
  Status st = ReadStepSwitches(&req);
  // A run that ends in an ONNX export or a registration needs driftrun-export:
  // refused before training, not after it.
  if (st.ok() && NeedsExporter(cfg.value())) st = CheckExporter();
  // Environments and installs may differ per rank: one message, no rank left waiting.
  if (st = env->Agree(st); !st.ok()) return ReportStatus("train", st);
  if (FLAGS_slurm) st = SlurmBegin(world, cfg.value(), job);
  const bool attempt = FLAGS_slurm && st.ok();  // an attempt was recorded: record its end
  TrainOutcome out;
  std::unique_ptr<MlflowTracker> tracker;
  if (st.ok()) {
    auto t = MakeTracker(*env, cfg.value(), &req);
    st = t.status();
    if (st.ok()) tracker = t.take();
  }
  if (st.ok()) {
    // The run folder, once training has started in it (rank 0): a failed run's report goes there.
    req.on_start = [&out, next = req.on_start](const std::string& run_dir, bool resuming) {
      out.run_dir = run_dir;
      if (next) next(run_dir, resuming);
    };
    st = TrainAndFinish(world, cfg.value(), req, &out);
  }
  FinishTracking(tracker.get(), st, out, stop);
  tracker.reset();  // waits for what is queued (bounded by the client's timeouts)
  if (attempt && env->rank() == 0) st = SlurmEnd(cfg.value(), job, st, out.stopped, stop->load(), out.step);
  code = ReportStatus("train", st);
  // The world may be broken. (A rank that exits non-zero otherwise makes mpirun
  // end its peers.) One rank alone has no peers to end: no MPI_Abort banner.
  if (st.code() == Code::kInfra && env->size() > 1) env->Abort(code);
  return code;
}

}  // namespace driftrun
