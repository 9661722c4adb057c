// driftrun submit: a training run as a Slurm batch job (scheduler/slurm_script.h).
#include <gflags/gflags.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/config.h"
#include "common/file_lock.h"
#include "common/file_util.h"
#include "common/json_get.h"
#include "common/text.h"
#include "dataio/tabular_set.h"
#include "export/exporter.h"
#include "runner/commands.h"
#include "scheduler/slurm_executor.h"
#include "scheduler/slurm_script.h"
#include "scheduler/sweep.h"
#include "trainers/resume.h"
#include "trainers/train_options.h"

DECLARE_string(config);
DECLARE_string(run_dir);
DECLARE_bool(json);
DEFINE_int32(nodes, 1, "nodes");
DEFINE_int32(ntasks_per_node, 1, "ranks per node");
DEFINE_int32(gpus_per_node, 0, "GPUs per node");
DEFINE_int32(cpus_per_task, 1, "CPUs per rank");
DEFINE_string(time, "", "time limit");
DEFINE_string(partition, "", "partition");
DEFINE_string(account, "", "account");
DEFINE_string(qos, "", "quality of service");
DEFINE_int32(signal_before, 120, "seconds of warning before the time limit");
DEFINE_bool(dry_run, false, "print the batch script, submit nothing");

namespace driftrun {

const CommandSpec kSubmitSpec = {
    "submit",
    "train as a Slurm batch job (srun driftrun train), requeued after the time limit and resumed",
    "driftrun submit --config FILE [--set section.key=value ...] [--nodes N --ntasks-per-node K "
    "--gpus-per-node G --cpus-per-task C --time T --partition P --account A --qos Q --signal-before S] "
    "[--run-dir DIR] [--dry-run] [--json]",
    {{"config",
      "experiment config (TOML); its [slurm] section holds the defaults of the flags below. With [sweep] "
      "params "
      "(configs/README.md) the submission is a sweep: one trial per combination, run as one Slurm job array "
      "(sbatch array 0-N%sweep.max_parallel), trials in <run-dir>/trial-<n>/; see driftrun sweep"},
     {"run_dir",
      "the run folder (default runs/<name>-<time>): the batch script (slurm/job.sbatch), the resolved config "
      "(slurm/config.toml), the logs of each attempt (slurm/logs/<job>.<restart>.log) and the run itself. "
      "A folder that already holds a run is continued from its last checkpoint"},
     {"nodes", "nodes (slurm.nodes)"},
     {"ntasks_per_node", "ranks per node (slurm.ntasks_per_node); ranks = nodes x this"},
     {"gpus_per_node", "GPUs per node (slurm.gpus_per_node); each rank uses the GPU of its SLURM_LOCALID"},
     {"cpus_per_task", "CPUs per rank (slurm.cpus_per_task)"},
     {"time", "time limit, a Slurm time: MM, HH:MM:SS, D-HH:MM (slurm.time; default: the partition's)"},
     {"partition", "partition, or several comma-separated (slurm.partition)"},
     {"account", "account (slurm.account)"},
     {"qos", "quality of service (slurm.qos)"},
     {"signal_before",
      "seconds before the time limit at which slurm.signal (USR1) asks every rank to checkpoint; the job "
      "then "
      "requeues itself, at most slurm.max_requeues times (slurm.signal_before_s)"},
     {"dry_run", "print the batch script and what would be written; create and submit nothing"},
     {"json",
      "print {job_id, run_dir, script, config, log} (with --dry-run: {dry_run, run_dir, script_text})"}},
    true};

Status CheckSubmittable(const Config& cfg, int ranks) {
  DRIFTRUN_ASSIGN_OR_RETURN(TrainOptions o, TrainOptions::FromConfig(cfg, ranks));
  // What train opens first (found by a stranger: a missing file was queued, to
  // fail in the job with exit 3): the same error, at once.
  auto set = TabularSet::Open(o.train_paths, o.train);
  if (!set.ok()) return set.status().WithContext("[data] train");
  if (!o.val_path.empty())
    DRIFTRUN_RETURN_IF_ERROR(TabularSet::Open({o.val_path}, o.train).status().WithContext("[data] val"));
  if (NeedsExporter(cfg)) DRIFTRUN_RETURN_IF_ERROR(CheckExporter());
  return CheckStepSwitches();  // what the job's train reads
}

namespace {

bool Given(const char* flag) {
  return !gflags::GetCommandLineFlagInfoOrDie(flag).is_default;
}

int Ranks(const SlurmOptions& o) {
  return o.ntasks > 0 ? o.ntasks : o.nodes * o.ntasks_per_node;
}

// A run folder with a job of ours still queued or running: a second one would
// wait in the queue only to find the folder locked. Every job jobs.jsonl
// records, and any job whose script is in the folder's slurm/ (one a killed
// submit queued without recording it).
Status CheckNotBusy(const std::string& run_dir) {
  std::vector<std::pair<std::string, std::string>> busy = SlurmJobsOfFolder(run_dir);
  auto text = ReadFile(run_dir + "/slurm/jobs.jsonl");
  std::istringstream in(text.ok() ? text.value() : "");
  std::string line;
  while (busy.empty() && std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j["job"].is_string()) continue;
    const std::string job = j["job"].get<std::string>(), state = SlurmJobState(job);
    if (!state.empty() && !SlurmStateFinal(state)) busy.emplace_back(job, state);  // gone, ended: no
  }
  if (busy.empty()) return Status::Ok();
  const std::string& job = busy.front().first;
  return Status::Usage("--run-dir '" + run_dir + "' already has Slurm job " + job + " (" +
                       busy.front().second + "): wait for it (squeue -j " + job + ") or cancel it (scancel " +
                       job + ") first");
}

// The [slurm] keys of the config, then the flags that were given.
SlurmOptions MergedOptions(const Config& cfg) {
  SlurmOptions o = SlurmOptionsFromConfig(cfg);
  if (Given("nodes")) o.nodes = FLAGS_nodes;
  if (Given("ntasks_per_node")) o.ntasks_per_node = FLAGS_ntasks_per_node;
  if (Given("gpus_per_node")) o.gpus_per_node = FLAGS_gpus_per_node;
  if (Given("cpus_per_task")) o.cpus_per_task = FLAGS_cpus_per_task;
  if (Given("time")) o.time = FLAGS_time;
  if (Given("partition")) o.partition = FLAGS_partition;
  if (Given("account")) o.account = FLAGS_account;
  if (Given("qos")) o.qos = FLAGS_qos;
  if (Given("signal_before")) o.signal_before_s = FLAGS_signal_before;
  return o;
}

// The flags as --set overrides of [slurm], so that the resolved copy the job
// reads (slurm.signal, slurm.max_requeues) and the script agree.
std::vector<std::string> SlurmSets(const SlurmOptions& o) {
  auto str = [](const std::string& v) { return "\"" + v + "\""; };  // validated: no quotes inside
  return {"slurm.nodes=" + std::to_string(o.nodes),
          "slurm.ntasks_per_node=" + std::to_string(o.ntasks_per_node),
          "slurm.gpus_per_node=" + std::to_string(o.gpus_per_node),
          "slurm.cpus_per_task=" + std::to_string(o.cpus_per_task),
          "slurm.time=" + str(o.time),
          "slurm.partition=" + str(o.partition),
          "slurm.account=" + str(o.account),
          "slurm.qos=" + str(o.qos),
          "slurm.signal_before_s=" + std::to_string(o.signal_before_s)};
}

// A resubmitted run folder: its own config must be the one given (else the job
// would be refused by train when it starts, after waiting in the queue).
Status CheckSameRun(const std::string& run_dir, const Config& cfg) {
  const std::string saved_path = run_dir + "/config.resolved.toml";
  if (!PathExists(saved_path)) return Status::Ok();
  auto saved = Config::Load(saved_path, {});
  if (!saved.ok()) return saved.status().WithContext("continuing the run in '" + run_dir + "'");
  const auto diff = saved.value().RunDifferences(cfg);
  if (diff.empty()) return Status::Ok();
  std::string list;
  for (const auto& d : diff) list += "\n  " + d;
  return Status::Usage("--run-dir '" + run_dir + "' holds a run whose config differs from this one:" + list +
                       "\nsubmit it with its own config (--config " + saved_path +
                       ") to continue it, or choose another --run-dir for a new run");
}

// The warning when the run's last checkpoint took longer than the lead time.
std::string CheckpointWarning(const std::string& run_dir, int signal_before_s) {
  auto text = ReadFile(run_dir + "/events.jsonl");
  if (!text.ok()) return "";
  std::istringstream in(text.value());
  std::string line;
  double seconds = -1;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "checkpoint" && j.contains("seconds") &&
        j["seconds"].is_number())
      seconds = j["seconds"].get<double>();
  }
  if (seconds <= signal_before_s) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f", seconds);
  return "the run's last checkpoint took " + std::string(buf) + " s, longer than --signal-before " +
         std::to_string(signal_before_s) +
         " s: at the time limit it would not finish before the kill. Raise "
         "--signal-before (slurm.signal_before_s)";
}

struct Submission {
  std::string run_dir, script, config, text;
  bool new_folder = false;
};

// Writes slurm/config.toml and slurm/job.sbatch into the run folder.
Status WriteSubmission(const Config& resolved, const SlurmOptions& o, Submission* s) {
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(s->run_dir + "/slurm/logs"));
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(s->config, resolved.ToToml()));
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(s->script, s->text));
  if (chmod(s->script.c_str(), 0755) != 0) return Status::Infra("cannot make " + s->script + " executable");
  return Status::Ok();
}

// A config with [sweep] params: one job array (runner/cmd_sweep.cpp).
Status Sweep(const Config& cfg, const std::vector<std::string>& sets, const SlurmOptions& o,
             const std::vector<SweepTrial>& trials) {
  SweepRequest r;
  r.config = FLAGS_config;
  r.name = cfg.Str("name");
  r.run_dir = FLAGS_run_dir;
  r.driftrun = SelfExe();
  r.method = cfg.Str("sweep.method");
  r.sets = sets;
  r.trials = &trials;
  r.slurm = &o;
  r.ranks = Ranks(o);  // each trial is checked as train would check it on the job's ranks
  r.max_parallel = static_cast<int>(cfg.Int("sweep.max_parallel"));
  if (r.max_parallel < 0 || r.max_parallel > 100000)
    return Status::Usage("sweep.max_parallel = " + std::to_string(r.max_parallel) +
                         ": give 0 (no limit) or more");
  r.dry_run = FLAGS_dry_run;
  r.json = FLAGS_json;
  return SubmitSweep(r);
}

// A given --run-dir: a sweep's folder is not a run; a run continues only under
// its own config and when no job of ours is still on it.
Status CheckRunDir(const std::string& run_dir, const Config& cfg) {
  // Found by a stranger: exit 5 ("cannot create folder"), and the dry run passed.
  if (PathExists(run_dir) && !IsDir(run_dir))
    return Status::Usage("--run-dir '" + run_dir + "' is a file, not a folder: name a folder for the run");
  if (PathExists(run_dir + "/sweep.json")) {
    return Status::Usage(
        "--run-dir '" + run_dir + "' holds a sweep; continue one of its trials with --config " + run_dir +
        "/trial-<n>/slurm/config.toml --run-dir " + run_dir + "/trial-<n>, or choose another --run-dir");
  }
  DRIFTRUN_RETURN_IF_ERROR(CheckNoForeignFiles(run_dir));
  DRIFTRUN_RETURN_IF_ERROR(CheckSameRun(run_dir, cfg));
  // Found by a stranger: a finished run was queued again, to wait on the
  // cluster for a job that only says "nothing to do".
  auto summary = ReadFile(run_dir + "/summary.json");
  if (summary.ok()) {
    const nlohmann::json j = nlohmann::json::parse(summary.value(), nullptr, false);
    if (JsonString(j, "status") == "done") {
      return Status::Usage("--run-dir '" + run_dir + "' holds a finished run (summary.json: done after " +
                           std::to_string(JsonInt(j, "steps", 0)) +
                           " steps): there is nothing to train; choose another --run-dir for a new run");
    }
  }
  return CheckNotBusy(run_dir);
}

Status Submit(const ParsedArgs& args) {
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(FLAGS_config, args.sets));
  DRIFTRUN_RETURN_IF_ERROR(CheckExperimentConfig(cfg, FLAGS_config));
  const SlurmOptions o = [&] {
    SlurmOptions m = MergedOptions(cfg);
    m.job_name = cfg.Str("name");
    return m;
  }();
  DRIFTRUN_RETURN_IF_ERROR(ValidateSlurmOptions(o));
  std::vector<std::string> sets = args.sets;
  for (const auto& kv : SlurmSets(o)) sets.push_back(kv);
  DRIFTRUN_ASSIGN_OR_RETURN(Config resolved, Config::Load(FLAGS_config, sets));
  DRIFTRUN_ASSIGN_OR_RETURN(const std::vector<SweepTrial> trials, ExpandSweep(cfg));
  if (!trials.empty()) return Sweep(cfg, sets, o, trials);

  Submission s;
  const std::string name = cfg.Str("name");
  s.run_dir = FLAGS_run_dir.empty() ? "" : AbsolutePath(FLAGS_run_dir);
  DRIFTRUN_RETURN_IF_ERROR(CheckSubmittable(resolved, Ranks(o)));
  // Two submits to one folder at once: the second is refused while the first
  // checks, queues and records its job (found by a stranger: both queued).
  FileLock claim;
  if (!s.run_dir.empty() && !FLAGS_dry_run && IsDir(DirName(s.run_dir))) {
    std::string stale;
    DRIFTRUN_ASSIGN_OR_RETURN(
        claim, FileLock::Acquire(DirName(s.run_dir) + "/." + BaseName(s.run_dir) + ".submit.lock",
                                 "submission to '" + s.run_dir + "'", &stale));
  }
  if (!s.run_dir.empty()) DRIFTRUN_RETURN_IF_ERROR(CheckRunDir(s.run_dir, cfg));
  if (s.run_dir.empty() && FLAGS_dry_run)
    s.run_dir = AbsolutePath("runs/" + name + "-" + RunFolderTimeStamp());
  if (s.run_dir.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::string made, NewRunFolder(name));
    s.run_dir = AbsolutePath(made);
    s.new_folder = true;
  }
  s.script = s.run_dir + "/slurm/job.sbatch";
  s.config = s.run_dir + "/slurm/config.toml";
  char cwd[PATH_MAX];
  const BatchPaths paths{SelfExe(), s.config, s.run_dir, getcwd(cwd, sizeof(cwd)) ? cwd : "/", "", ""};
  Status paths_ok = ValidateBatchPaths(paths);
  if (!paths_ok.ok()) {
    if (s.new_folder) ::rmdir(s.run_dir.c_str());
    return paths_ok;
  }
  s.text = RenderBatchScript(o, paths);
  const std::string warning = CheckpointWarning(s.run_dir, o.signal_before_s);
  if (!warning.empty()) std::cerr << "driftrun submit: warning: " << warning << "\n";

  if (FLAGS_dry_run) {
    if (FLAGS_json) {
      std::cout << nlohmann::json{{"dry_run", true},
                                  {"run_dir", s.run_dir},
                                  {"script", s.script},
                                  {"script_text", s.text}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << s.text;
      std::cerr << "driftrun submit: dry run: nothing written or submitted (the script would be " << s.script
                << ")\n";
    }
    return Status::Ok();
  }
  DRIFTRUN_RETURN_IF_ERROR(WriteSubmission(resolved, o, &s));
  auto queued = Sbatch(s.script);
  if (!queued.ok()) {
    // Nothing was queued: what this submission wrote goes (found by a
    // stranger), unless an earlier submission of the folder is on record.
    if (!PathExists(s.run_dir + "/slurm/jobs.jsonl")) {
      RemoveTree(s.run_dir + "/slurm");
      if (s.new_folder || ListDir(s.run_dir).empty()) ::rmdir(s.run_dir.c_str());
    }
    return queued.status().WithContext(
        PathExists(s.script) ? "nothing was queued" : "nothing was queued (what it wrote is removed)");
  }
  const std::string job = queued.take();
  // Each job keeps the script it ran (found by a stranger: a resubmission
  // rewrote job.sbatch, and jobs.jsonl named the same file for every job).
  std::string kept = s.run_dir + "/slurm/job-" + job + ".sbatch";
  if (!LinkOrCopyFile(s.script, kept).ok()) kept = s.script;
  (void)AppendLine(
      s.run_dir + "/slurm/jobs.jsonl",
      nlohmann::json{{"job", job}, {"time", static_cast<int64_t>(std::time(nullptr))}, {"script", kept}}
          .dump());
  const std::string log = s.run_dir + "/slurm/logs/" + job + ".0.log";
  if (FLAGS_json) {
    std::cout << nlohmann::json{{"job_id", job},
                                {"run_dir", s.run_dir},
                                {"script", s.script},
                                {"config", s.config},
                                {"log", log}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "submitted Slurm job " << job << "\n  run folder: " << EscapeForConsole(s.run_dir)
              << "\n  log: " << EscapeForConsole(log) << "\n  follow it: squeue -j " << job
              << "; scontrol show job " << job << "\n";
  }
  return Status::Ok();
}

}  // namespace

int RunSubmit(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kSubmitSpec, argc, argv, &args, &code)) return code;
  if (!args.positional.empty()) {
    return ReportStatus("submit", Status::Usage("unexpected argument '" + args.positional[0] +
                                                "'; did you mean --config " + args.positional[0] + "?"));
  }
  if (FLAGS_config.empty()) {
    return ReportStatus("submit", Status::Usage("--config FILE is required (examples: configs/demo.toml)"));
  }
  return ReportStatus("submit", Submit(args));
}

}  // namespace driftrun
