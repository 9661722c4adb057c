// Sweeps: `driftrun submit` of a config with [sweep] params (one Slurm job
// array), and `driftrun sweep status|summary DIR` (scheduler/sweep.h).
#include <gflags/gflags.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "common/file_lock.h"
#include "common/file_util.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "runner/commands.h"
#include "scheduler/register_run.h"
#include "scheduler/slurm_executor.h"
#include "scheduler/slurm_script.h"
#include "scheduler/sweep.h"
#include "trainers/resume.h"

DECLARE_string(config);
DECLARE_string(run_dir);
DECLARE_bool(json);
DECLARE_bool(dry_run);
DEFINE_bool(register_best, false, "register the best finished trial");

namespace driftrun {

const CommandSpec kSweepSpec = {
    "sweep",
    "the trials of a sweep submitted with driftrun submit: their state, or ranked by validation loss",
    "driftrun sweep status DIR [--json]\n       driftrun sweep summary DIR [--register-best] [--json]",
    {{"register_best",
      "summary: register the finished trial with the lowest validation loss in its config's registry "
      "(alias candidate; trials themselves register nothing)"},
     {"json", "the trials as JSON: index, state, params, step, val_loss, val_metric, run_dir, reason"}},
    false};

namespace {

std::string ParamsText(const nlohmann::json& params) {
  std::string s;
  for (const auto& [k, v] : params.items())
    s += (s.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return EscapeForConsole(s);
}

std::string Loss(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

Status WriteSweepJson(const std::string& dir, const nlohmann::json& s) {
  return WriteFileAtomic(dir + "/sweep.json", s.dump(2) + "\n");
}

// Each trial's resolved config: the sweep's, with the trial's values, not a
// sweep itself (so that `driftrun submit --config trial-<n>/slurm/config.toml
// --run-dir trial-<n>` continues it) and registering nothing (a sweep
// registers its best trial on request). Checked as `train` would.
Result<std::vector<Config>> TrialConfigs(const SweepRequest& r) {
  std::vector<Config> out;
  for (const SweepTrial& t : *r.trials) {
    std::vector<std::string> sets = r.sets;
    sets.insert(sets.end(), t.sets.begin(), t.sets.end());
    sets.push_back("registry.register=false");
    sets.push_back("sweep.params=[]");
    DRIFTRUN_ASSIGN_OR_RETURN(Config c, Config::Load(r.config, sets));
    std::string params;
    for (const auto& kv : t.sets) params += (params.empty() ? "" : ", ") + kv;
    DRIFTRUN_RETURN_IF_ERROR(
        CheckSubmittable(c, r.ranks)
            .WithContext("sweep trial " + std::to_string(t.index) + " (" + params + ")"));
    out.push_back(std::move(c));
  }
  return out;
}

Status WriteTrials(const SweepRequest& r, const std::vector<Config>& configs, const std::string& dir) {
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string run = dir + "/trial-" + std::to_string((*r.trials)[i].index);
    DRIFTRUN_RETURN_IF_ERROR(MakeDirs(run + "/slurm/logs"));
    DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(run + "/slurm/config.toml", configs[i].ToToml()));
  }
  return Status::Ok();
}

std::vector<std::string> Scripts(const SweepRequest& r, const std::string& dir, const std::string& driftrun,
                                 const std::string& workdir, int max_array, std::vector<std::string>* paths) {
  std::vector<std::string> texts;
  const int n = static_cast<int>(r.trials->size());
  for (int offset = 0, k = 0; offset < n; offset += max_array, ++k) {
    SlurmOptions o = *r.slurm;
    o.array_offset = offset;
    o.array_size = std::min(max_array, n - offset);
    o.max_parallel = r.max_parallel;
    const std::string script = dir + "/slurm/array-" + std::to_string(k) + ".sbatch";
    texts.push_back(
        RenderBatchScript(o, {driftrun, dir + "/trial-0/slurm/config.toml", dir, workdir, "", script}));
    paths->push_back(script);
  }
  return texts;
}

}  // namespace

// sbatch of each array script, one after the other (max_parallel holds
// across the arrays), each job recorded in sweep.json as it is queued.
Status QueueArrays(const std::string& dir, const std::vector<std::string>& scripts, nlohmann::json* sweep) {
  std::string prev;
  for (const std::string& script : scripts) {
    auto job = Sbatch(script, prev.empty() ? std::vector<std::string>{}
                                           : std::vector<std::string>{"--dependency=afterany:" + prev});
    if (!job.ok() && prev.empty()) {  // nothing queued: the folder can be submitted again
      std::remove((dir + "/sweep.json").c_str());
      return job.status().WithContext(
          "nothing was queued; submit the same --run-dir again once Slurm answers");
    }
    if (!job.ok()) return job.status();
    prev = job.value();
    (*sweep)["array_jobs"].push_back(prev);
    DRIFTRUN_RETURN_IF_ERROR(WriteSweepJson(dir, *sweep));
  }
  return Status::Ok();
}

// A given --run-dir must not hold a sweep or a run already.
Status CheckNewSweepFolder(const std::string& dir) {
  if (PathExists(dir) && !IsDir(dir))
    return Status::Usage("--run-dir '" + dir + "' is a file, not a folder: name a new folder for the sweep");
  // Found by a stranger: a sweep was added to a folder of an earlier run's submission (slurm/).
  const std::string held = PathExists(dir + "/sweep.json")             ? "sweep"
                           : PathExists(dir + "/config.resolved.toml") ? "run"
                           : PathExists(dir + "/slurm/config.toml")    ? "run's Slurm submission (slurm/)"
                                                                       : "";
  if (held.empty()) return Status::Ok();
  return Status::Usage("--run-dir '" + dir + "' already holds a " + held +
                       "; a sweep needs a new folder: leave --run-dir out or name another");
}

Status SubmitSweep(const SweepRequest& r) {
  const std::string name = r.name;
  std::string dir = r.run_dir.empty() ? "" : AbsolutePath(r.run_dir);
  if (!dir.empty()) DRIFTRUN_RETURN_IF_ERROR(CheckNewSweepFolder(dir));
  // Two submits into one new folder at once: one holds the folder until its
  // sweep.json is written, the other is refused (or, later, finds it taken).
  std::optional<FileLock> claim;
  if (!dir.empty() && !r.dry_run) {
    DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
    std::string warning;
    DRIFTRUN_ASSIGN_OR_RETURN(FileLock lock,
                              FileLock::Acquire(dir + "/sweep.lock", "sweep folder '" + dir + "'", &warning));
    claim.emplace(std::move(lock));
    DRIFTRUN_RETURN_IF_ERROR(CheckNewSweepFolder(dir));
  }
  if (dir.empty()) {
    if (r.dry_run) {
      dir = AbsolutePath("runs/" + name + "-" + RunFolderTimeStamp());
    } else {
      DRIFTRUN_ASSIGN_OR_RETURN(std::string made, NewRunFolder(name));
      dir = AbsolutePath(made);
    }
  }
  char cwd[PATH_MAX];
  const std::string workdir = getcwd(cwd, sizeof(cwd)) ? cwd : "/";
  DRIFTRUN_RETURN_IF_ERROR(
      ValidateBatchPaths({r.driftrun, dir + "/trial-0/slurm/config.toml", dir, workdir, "", ""}));
  DRIFTRUN_ASSIGN_OR_RETURN(const std::vector<Config> configs, TrialConfigs(r));
  std::vector<std::string> scripts;
  const int max_array = r.dry_run ? 1001 : MaxArraySize();
  const std::vector<std::string> texts = Scripts(r, dir, r.driftrun, workdir, max_array, &scripts);
  nlohmann::json sweep = {
      {"config", AbsolutePath(r.config)},      {"method", r.method}, {"trials", nlohmann::json::array()},
      {"array_jobs", nlohmann::json::array()}, {"scripts", scripts}, {"array_size", max_array}};
  for (const SweepTrial& t : *r.trials) sweep["trials"].push_back({{"index", t.index}, {"params", t.params}});
  if (r.dry_run) {
    if (r.json) {
      std::cout << nlohmann::json{{"dry_run", true},
                                  {"sweep_dir", dir},
                                  {"trials", sweep["trials"]},
                                  {"scripts", scripts},
                                  {"script_texts", texts}}
                       .dump(2)
                << "\n";
    } else {
      for (const auto& t : texts) std::cout << t;
      for (const SweepTrial& t : *r.trials) {
        std::string params;
        for (const auto& kv : t.sets) params += (params.empty() ? "" : ", ") + kv;
        std::cerr << "trial " << t.index << ": " << EscapeForConsole(params) << "\n";
      }
      std::cerr << "driftrun submit: dry run: a sweep of " << r.trials->size() << " trials in "
                << texts.size() << " job array(s); nothing written or submitted\n";
    }
    return Status::Ok();
  }
  DRIFTRUN_RETURN_IF_ERROR(WriteTrials(r, configs, dir));
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir + "/slurm"));
  for (size_t k = 0; k < texts.size(); ++k) DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(scripts[k], texts[k]));
  DRIFTRUN_RETURN_IF_ERROR(WriteSweepJson(dir, sweep));  // before submitting: the journal of what is asked
  DRIFTRUN_RETURN_IF_ERROR(QueueArrays(dir, scripts, &sweep));
  if (r.json) {
    std::cout << nlohmann::json{{"sweep_dir", dir},
                                {"trials", r.trials->size()},
                                {"array_jobs", sweep["array_jobs"]},
                                {"scripts", scripts}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "submitted a sweep of " << r.trials->size() << " trials as Slurm job array "
              << sweep["array_jobs"][0].get<std::string>()
              << (scripts.size() > 1 ? " (and more, one after the other)" : "")
              << "\n  sweep folder: " << EscapeForConsole(dir) << "\n  follow it: driftrun sweep status "
              << ShellQuote(dir) << "\n  rank it: driftrun sweep summary " << ShellQuote(dir)
              << " [--register-best]\n";
  }
  return Status::Ok();
}

namespace {

// Array task "<array job>_<task>" → Slurm state, for the sweep's array jobs;
// false when Slurm cannot be asked (then the run folders alone speak).
bool ArrayTaskStates(const std::string& dir, std::vector<std::string>* arrays, int* chunk,
                     std::map<std::string, std::string>* states) {
  auto text = ReadFile(dir + "/sweep.json");
  const nlohmann::json s = text.ok() ? nlohmann::json::parse(text.value(), nullptr, false) : nlohmann::json();
  if (!s.is_object() || !s["array_jobs"].is_array() || s["array_jobs"].empty()) return false;
  *chunk = s.value("array_size", 1001);
  std::string ids;
  for (const auto& j : s["array_jobs"]) {
    arrays->push_back(j.get<std::string>());
    ids += (ids.empty() ? "" : ",") + arrays->back();
  }
  auto r = RunProcess({"squeue", "--noheader", "--array", "--jobs", ids, "--format=%i %T"}, 60);
  const bool gone =
      r.ok() && r.value().exit_code != 0 && r.value().err.find("Invalid job id") != std::string::npos;
  if (!r.ok() || (r.value().exit_code != 0 && !gone)) {
    std::string why = r.ok() ? r.value().err : r.status().message();
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    std::cerr << "driftrun sweep: warning: Slurm could not be asked about array(s) " << ids << " ("
              << EscapeForConsole(why.substr(0, 300))
              << "): states come from the trial folders alone (a trial shown pending may be cancelled)\n";
    return false;
  }
  if (gone) return true;  // all gone
  std::istringstream in(r.value().out);
  std::string id, state;
  while (in >> id >> state) (*states)[id] = state;
  return true;
}

// The trials' states with what Slurm says: queued or running tasks, and
// trials that no Slurm job will run any more (cancelled, or stopped and not
// requeued), with how to continue them.
void AddSlurmStates(const std::string& dir, std::vector<TrialStatus>* trials) {
  std::vector<std::string> arrays;
  std::map<std::string, std::string> states;
  int chunk = 1001;
  if (!ArrayTaskStates(dir, &arrays, &chunk, &states)) return;
  for (TrialStatus& t : *trials) {
    if (t.state == "done" || t.state == "failed" || t.state == "damaged" || chunk < 1) continue;
    const size_t k = static_cast<size_t>(t.index / chunk);
    const std::string task = k < arrays.size() ? arrays[k] + "_" + std::to_string(t.index % chunk) : "";
    auto it = states.find(task);
    if (it != states.end() && !SlurmStateFinal(it->second)) {
      if (it->second == "PENDING") t.state = t.state == "stopped" ? "requeued" : "queued";
      // Found by a stranger: a task Slurm runs whose train has not yet
      // recorded its start showed as "pending", behind the queued ones.
      if (it->second != "PENDING" && t.state == "pending") t.state = "running";
      continue;
    }
    if (t.state == "running") continue;  // between the end of srun and the end of the task
    t.state = t.state == "stopped" ? "stopped" : "not queued";
    t.reason = (t.reason.empty() ? "" : t.reason + "; ") +
               "no Slurm job will run it (cancelled?): continue it with "
               "driftrun submit --config " +
               t.run_dir + "/slurm/config.toml --run-dir " + t.run_dir;
  }
}

Status ShowStatus(const std::string& dir) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<TrialStatus> trials, ReadSweep(dir));
  AddSlurmStates(dir, &trials);
  if (FLAGS_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : trials) out.push_back(TrialJson(t));
    std::cout << nlohmann::json{{"sweep_dir", dir}, {"trials", out}}.dump(2) << "\n";
    return Status::Ok();
  }
  std::map<std::string, int> counts;
  for (const auto& t : trials) ++counts[t.state];
  std::string c;
  for (const auto& [state, n] : counts) c += (c.empty() ? "" : ", ") + std::to_string(n) + " " + state;
  std::cout << "sweep " << EscapeForConsole(dir) << ": " << trials.size() << " trials: " << c << "\n";
  std::printf("%-6s %-10s %8s %10s  %s\n", "trial", "state", "step", "val_loss", "params");
  for (const auto& t : trials) {
    std::printf("%-6d %-10s %8lld %10s  %s%s\n", t.index, t.state.c_str(), static_cast<long long>(t.step),
                Loss(t.val_loss).c_str(), ParamsText(t.params).c_str(),
                t.reason.empty() ? "" : ("  (" + EscapeForConsole(t.reason) + ")").c_str());
  }
  return Status::Ok();
}

Status RegisterBest(const std::string& dir, const TrialStatus& best, size_t finished, size_t of) {
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(best.run_dir + "/config.resolved.toml", {}));
  RegisterRunOptions o;
  o.registry = cfg.Str("registry.path");
  o.trigger = "sweep " + dir + ": trial " + std::to_string(best.index) + ", the best of " +
              (finished == of ? std::to_string(of)
                              : std::to_string(finished) + " finished of " + std::to_string(of)) +
              " by validation loss";
  bool existed = false;
  o.existed = &existed;
  DRIFTRUN_ASSIGN_OR_RETURN(VersionRecord v, RegisterRun(best.run_dir, o));
  std::fprintf(FLAGS_json ? stderr : stdout, "%s %s:%lld%s in %s\n",
               existed ? "already registered as" : "registered", EscapeForConsole(v.name).c_str(),
               static_cast<long long>(v.version), existed ? "" : " (alias candidate)",
               EscapeForConsole(o.registry).c_str());
  return Status::Ok();
}

Status Summary(const std::string& dir) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<TrialStatus> trials, ReadSweep(dir));
  const std::vector<TrialStatus> ranked = RankTrials(trials);
  if (FLAGS_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : ranked) out.push_back(TrialJson(t));
    std::cout << nlohmann::json{{"sweep_dir", dir},
                                {"trials", trials.size()},
                                {"finished", ranked.size()},
                                {"ranked", out}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << "sweep " << EscapeForConsole(dir) << ": " << ranked.size() << " of " << trials.size()
              << " trials finished, ranked by validation loss\n";
    std::printf("%-5s %-6s %10s %12s  %s\n", "rank", "trial", "val_loss", "val_metric", "params");
    for (size_t i = 0; i < ranked.size(); ++i) {
      const TrialStatus& t = ranked[i];
      std::printf("%-5zu %-6d %10s %12s  %s\n", i + 1, t.index, Loss(t.val_loss).c_str(),
                  (Loss(t.val_metric) + (t.metric_name.empty() ? "" : " " + t.metric_name)).c_str(),
                  ParamsText(t.params).c_str());
    }
  }
  if (!FLAGS_register_best) return Status::Ok();
  // The best so far is not the sweep's best while trials still run: refused;
  // trials that stopped or were never queued are said (they may be continued).
  std::vector<std::string> running, idle;
  for (const TrialStatus& t : trials) {
    if (t.state == "pending" || t.state == "running") running.push_back(std::to_string(t.index));
    if (t.state == "stopped" || t.state == "not queued") idle.push_back(std::to_string(t.index));
  }
  if (!running.empty()) {
    return Status::Usage(
        "--register-best: trial(s) " + Join(running, ", ") + " of " + dir +
        " are still pending or running; run it again when they have finished (driftrun sweep "
        "status " +
        dir + ")");
  }
  if (ranked.empty()) {
    return Status::Usage("--register-best: no trial of " + dir +
                         " has finished with a validation loss yet (see driftrun sweep status); run it again "
                         "when one has");
  }
  if (!idle.empty())
    std::cerr << "driftrun sweep: warning: trial(s) " << Join(idle, ", ")
              << " stopped or were never queued: the best of the " << ranked.size()
              << " finished trials is registered\n";
  return RegisterBest(dir, ranked[0], ranked.size(), trials.size());
}

}  // namespace

int RunSweep(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kSweepSpec, argc, argv, &args, &code)) return code;
  const auto& p = args.positional;
  if (!p.empty() && p[0] != "status" && p[0] != "summary") {
    const std::string near = ClosestMatch(p[0], {"status", "summary"});
    return ReportStatus("sweep", Status::Usage("unknown sweep command '" + EscapeForConsole(p[0]) + "'" +
                                               (near.empty() ? "" : "; did you mean '" + near + "'?") +
                                               " (driftrun sweep status|summary DIR)"));
  }
  if (p.size() != 2 || (p[0] != "status" && p[0] != "summary")) {
    return ReportStatus("sweep",
                        Status::Usage("usage: driftrun sweep status DIR | driftrun sweep summary DIR "
                                      "[--register-best] (DIR: the sweep folder driftrun submit printed)"));
  }
  if (p[0] == "status" && FLAGS_register_best)
    return ReportStatus("sweep", Status::Usage("--register-best belongs to `driftrun sweep summary`"));
  return ReportStatus("sweep", p[0] == "status" ? ShowStatus(p[1]) : Summary(p[1]));
}

}  // namespace driftrun
