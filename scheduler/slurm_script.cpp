#include "scheduler/slurm_script.h"

#include <cctype>
#include <cstdlib>
#include <regex>
#include <sstream>

#include "common/file_util.h"
#include "common/subprocess.h"
#include "common/text.h"

namespace driftrun {
namespace {

bool IsSlurmName(const std::string& s) {
  static const std::regex kName("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");
  return std::regex_match(s, kName);
}

Status CheckName(const std::string& v, const char* what, bool list) {
  if (v.empty()) return Status::Ok();
  bool ok = true;
  size_t start = 0;
  while (ok) {
    const size_t comma = list ? v.find(',', start) : std::string::npos;
    ok = IsSlurmName(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (ok) return Status::Ok();
  return Status::Usage(
      std::string(what) + " '" + EscapeForConsole(v) +
      "' is not a Slurm name: letters, digits, '_', '.' and '-', not starting with '-'" +
      (list ? " (several: comma-separated)" : "") +
      (list ? "; see `sinfo` for the cluster's partitions" : "; see `sacctmgr show assoc` for yours"));
}

Status CheckRange(int v, int lo, int hi, const char* what) {
  if (v >= lo && v <= hi) return Status::Ok();
  return Status::Usage(std::string(what) + " " + std::to_string(v) + " is out of range: give " +
                       std::to_string(lo) + ".." + std::to_string(hi));
}

std::string SafeJobName(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out[0] == '-' || out[0] == '.') out = "driftrun-" + out;
  return out.substr(0, 64);
}

}  // namespace

SlurmOptions SlurmOptionsFromConfig(const Config& cfg) {
  SlurmOptions o;
  o.nodes = static_cast<int>(cfg.Int("slurm.nodes"));
  o.ntasks_per_node = static_cast<int>(cfg.Int("slurm.ntasks_per_node"));
  o.gpus_per_node = static_cast<int>(cfg.Int("slurm.gpus_per_node"));
  o.cpus_per_task = static_cast<int>(cfg.Int("slurm.cpus_per_task"));
  o.time = cfg.Str("slurm.time");
  o.partition = cfg.Str("slurm.partition");
  o.account = cfg.Str("slurm.account");
  o.qos = cfg.Str("slurm.qos");
  o.signal_before_s = static_cast<int>(cfg.Int("slurm.signal_before_s"));
  o.signal = cfg.Str("slurm.signal");
  o.max_requeues = static_cast<int>(cfg.Int("slurm.max_requeues"));
  o.mpi = cfg.Str("slurm.mpi");
  o.job_name = cfg.Str("name");
  return o;
}

int64_t SlurmTimeSeconds(const std::string& t) {
  if (t.empty()) return 0;
  std::string upper;
  for (char c : t) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "UNLIMITED" || upper == "INFINITE") return 0;  // no limit, as Slurm reads them
  static const std::regex kDays("([0-9]{1,4})-([0-9]{1,2})(?::([0-9]{1,2}))?(?::([0-9]{1,2}))?");
  static const std::regex kClock("([0-9]{1,6})(?::([0-9]{1,2}))?(?::([0-9]{1,2}))?");
  std::smatch m;
  auto num = [&](int i) { return m[i].matched ? std::stoll(m[i].str()) : 0LL; };
  // Found by a stranger: 1:99:99 and 10-25:00:00 went to #SBATCH as they were.
  if (std::regex_match(t, m, kDays)) {
    if (num(2) > 23 || num(3) > 59 || num(4) > 59) return -1;
    return ((num(1) * 24 + num(2)) * 60 + num(3)) * 60 + num(4);
  }
  if (std::regex_match(t, m, kClock)) {
    if (m[3].matched) {  // HH:MM:SS
      if (num(2) > 59 || num(3) > 59) return -1;
      return (num(1) * 60 + num(2)) * 60 + num(3);
    }
    if (num(2) > 59) return -1;
    return num(1) * 60 + num(2);  // MM or MM:SS
  }
  return -1;
}

Status ValidateSlurmOptions(const SlurmOptions& o) {
  DRIFTRUN_RETURN_IF_ERROR(CheckRange(o.nodes, 1, 100000, "--nodes (slurm.nodes)"));
  DRIFTRUN_RETURN_IF_ERROR(CheckRange(o.ntasks, 0, 1000000, "ranks (retrain.ranks)"));
  DRIFTRUN_RETURN_IF_ERROR(
      CheckRange(o.ntasks_per_node, 1, 4096, "--ntasks-per-node (slurm.ntasks_per_node)"));
  DRIFTRUN_RETURN_IF_ERROR(CheckRange(o.gpus_per_node, 0, 64, "--gpus-per-node (slurm.gpus_per_node)"));
  DRIFTRUN_RETURN_IF_ERROR(CheckRange(o.cpus_per_task, 1, 4096, "--cpus-per-task (slurm.cpus_per_task)"));
  DRIFTRUN_RETURN_IF_ERROR(
      CheckRange(o.signal_before_s, 1, 65535, "--signal-before (slurm.signal_before_s)"));
  DRIFTRUN_RETURN_IF_ERROR(CheckRange(o.max_requeues, 0, 1000, "slurm.max_requeues"));
  const int64_t limit = SlurmTimeSeconds(o.time);
  if (limit < 0) {
    return Status::Usage("--time (slurm.time) '" + EscapeForConsole(o.time) +
                         "' is not a Slurm time: use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, "
                         "minutes and seconds 0-59, hours after a day count 0-23 (e.g. 2:00:00 for two "
                         "hours)");
  }
  if (limit > 0 && limit < 60) {
    return Status::Usage("--time (slurm.time) '" + o.time +
                         "' is under a minute; Slurm counts time limits in "
                         "whole minutes: give at least 1");
  }
  if (limit > 0 && o.signal_before_s >= limit) {
    return Status::Usage("--signal-before (slurm.signal_before_s) " + std::to_string(o.signal_before_s) +
                         " s is not shorter than --time '" + o.time + "' (" + std::to_string(limit) +
                         " s): the job would be told to stop before it starts");
  }
  DRIFTRUN_RETURN_IF_ERROR(CheckName(o.partition, "--partition (slurm.partition)", true));
  DRIFTRUN_RETURN_IF_ERROR(CheckName(o.account, "--account (slurm.account)", false));
  DRIFTRUN_RETURN_IF_ERROR(CheckName(o.qos, "--qos (slurm.qos)", false));
  if (o.signal != "USR1" && o.signal != "USR2") {
    return Status::Usage("slurm.signal '" + EscapeForConsole(o.signal) +
                         "' must be USR1 or USR2 (the time-limit warning; TERM is what preemption and "
                         "scancel send)");
  }
  if (o.mpi != "pmix" && o.mpi.rfind("pmix_v", 0) != 0) {
    return Status::Usage("slurm.mpi '" + EscapeForConsole(o.mpi) +
                         "' is not supported: Open MPI under srun needs a PMIx plugin (pmix or pmix_vN; see "
                         "`srun --mpi=list`)");
  }
  if (!IsSlurmName(o.mpi))
    return Status::Usage("slurm.mpi '" + EscapeForConsole(o.mpi) + "' is not a plugin name");
  return Status::Ok();
}

Status ValidateBatchPaths(const BatchPaths& p) {
  const std::pair<const char*, const std::string*> all[] = {{"the driftrun executable", &p.driftrun},
                                                            {"the config", &p.config},
                                                            {"the run folder", &p.run_dir},
                                                            {"the working folder", &p.workdir},
                                                            {"the log", &p.log}};
  for (const auto& [what, path] : all) {
    for (unsigned char c : *path) {
      if (c < 0x20 || c == 0x7f) {
        return Status::Usage(std::string(what) + " path '" + EscapeForConsole(*path) +
                             "' holds a control character (a newline or tab); a batch script cannot name "
                             "it safely: rename it");
      }
    }
    if (path == &p.log && path->empty()) continue;
    if (path->empty() || (*path)[0] != '/')
      return Status::Usage(std::string(what) + " path must be absolute");
  }
  return Status::Ok();
}

namespace {

std::string SbatchLines(const SlurmOptions& o) {
  std::string s;
  auto line = [&](const std::string& opt) { s += "#SBATCH " + opt + "\n"; };
  line("--job-name=" + SafeJobName(o.job_name));
  if (o.ntasks > 0) {
    line("--ntasks=" + std::to_string(o.ntasks));
    if (o.nodes > 1) line("--nodes=" + std::to_string(o.nodes));  // the service's jobs: spread over them
  } else {
    line("--nodes=" + std::to_string(o.nodes));
    line("--ntasks-per-node=" + std::to_string(o.ntasks_per_node));
  }
  line("--cpus-per-task=" + std::to_string(o.cpus_per_task));
  if (o.gpus_per_node > 0) line("--gpus-per-node=" + std::to_string(o.gpus_per_node));
  if (!o.time.empty()) line("--time=" + o.time);
  if (!o.partition.empty()) line("--partition=" + o.partition);
  if (!o.account.empty()) line("--account=" + o.account);
  if (!o.qos.empty()) line("--qos=" + o.qos);
  if (o.array_size > 0) {
    line("--array=0-" + std::to_string(o.array_size - 1) +
         (o.max_parallel > 0 ? "%" + std::to_string(o.max_parallel) : ""));
  }
  line("--signal=" + o.signal + "@" + std::to_string(o.signal_before_s));
  line("--requeue");
  line("--output=/dev/null");  // the script writes its own log into the run folder
  return s;
}

}  // namespace

std::string RenderBatchScript(const SlurmOptions& o, const BatchPaths& p) {
  const bool array = o.array_size > 0;
  const std::string script = p.script.empty() ? p.run_dir + "/slurm/job.sbatch" : p.script;
  std::string s = "#!/bin/bash\n";
  s += "# Written by `driftrun submit`. Submit it again with: sbatch " + ShellQuote(script) + "\n";
  s += SbatchLines(o);
  s += "set -u\n";
  if (array) {  // p.run_dir is the sweep's folder; each task trains one trial
    s += "sweep_dir=" + ShellQuote(p.run_dir) + "\n";
    s += "trial=$((SLURM_ARRAY_TASK_ID + " + std::to_string(o.array_offset) + "))\n";
    s += "run_dir=\"$sweep_dir/trial-$trial\"\n";
  } else {
    s += "run_dir=" + ShellQuote(p.run_dir) + "\n";
  }
  s += "if [ -n \"${SLURM_ARRAY_TASK_ID:-}\" ]; then job=\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"; "
       "else job=\"${SLURM_JOB_ID}\"; fi\n";
  if (p.log.empty()) {
    s += "exec >>\"$run_dir/slurm/logs/$job.${SLURM_RESTART_COUNT:-0}.log\" 2>&1\n";
  } else {
    s += "exec >>" + ShellQuote(p.log) + " 2>&1\n";
  }
  s += "cd " + ShellQuote(p.workdir) + " || exit 5\n";
  s += "echo \"[driftrun] job $job attempt ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-?}: $(date -u "
       "+%Y-%m-%dT%H:%M:%SZ)\"\n";
  const std::string config = array ? "\"$run_dir/slurm/config.toml\"" : ShellQuote(p.config);
  const std::string run = array ? "\"$run_dir\"" : ShellQuote(p.run_dir);
  s += "srun --mpi=" + o.mpi + " --kill-on-bad-exit=1 " + ShellQuote(p.driftrun) + " train --config " +
       config + " --run-dir " + run + " --resume auto --slurm --noprogress\n";
  s += "code=$?\n";
  s += "echo \"[driftrun] srun exited $code: $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n";
  s += "exit $code\n";
  return s;
}

Result<std::string> Sbatch(const std::string& script, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(script);
  auto r = RunProcess(argv, 120);
  if (!r.ok()) {
    return Status::Infra(
        r.status().message() +
        "; submitting needs Slurm's sbatch (driftrun submit --dry-run prints the script without it)");
  }
  const ProcessResult& p = r.value();
  const std::string id = p.out.substr(0, p.out.find_first_of(";\n"));
  if (p.exit_code != 0 || id.empty() || id.find_first_not_of("0123456789_") != std::string::npos) {
    std::string said = p.err.empty() ? p.out : p.err;
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
    for (char& c : said) c = c == '\n' ? ';' : c;
    // A request the cluster has no room for (a partition, account or qos it
    // does not know, more than its nodes hold) is the user's to change, not
    // an outage (found by a stranger: exit 5).
    std::string lower = said;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool request = lower.find("invalid partition") != std::string::npos ||
                         lower.find("invalid account") != std::string::npos ||
                         lower.find("invalid qos") != std::string::npos ||
                         lower.find("node configuration is not available") != std::string::npos ||
                         lower.find("more processors requested") != std::string::npos ||
                         lower.find("node count specification invalid") != std::string::npos ||
                         lower.find("time limit") != std::string::npos;
    const std::string msg = "sbatch refused the job (exit " + std::to_string(p.exit_code) +
                            "): " + EscapeForConsole(said) + " (script " + script + ")";
    if (request) {
      return Status::Usage(msg +
                           "; check --partition, --account, --qos, --time and the counts against the "
                           "cluster (sinfo; sacctmgr show assoc)");
    }
    return Status::Infra(msg);
  }
  return id;
}

int MaxArraySize() {
  auto r = RunProcess({"scontrol", "show", "config"}, 60);
  if (!r.ok() || r.value().exit_code != 0) return 1001;
  std::istringstream in(r.value().out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MaxArraySize", 0) != 0) continue;
    const size_t eq = line.find('=');
    const int v = eq == std::string::npos ? 0 : std::atoi(line.c_str() + eq + 1);
    return v > 0 ? v : 1001;
  }
  return 1001;
}

}  // namespace driftrun
