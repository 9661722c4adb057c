#include "scheduler/slurm_executor.h"

#include <sys/stat.h>

#include <cstdlib>
#include <set>
#include <sstream>

#include "common/config.h"
#include "common/file_util.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "scheduler/slurm_script.h"

namespace driftrun {
namespace {

constexpr char kPrefix[] = "slurm:";
constexpr double kToolTimeoutS = 60;

std::string JobId(const std::string& handle) {
  if (handle.rfind(kPrefix, 0) != 0) return "";
  const std::string id = handle.substr(sizeof(kPrefix) - 1);
  if (id.empty() || id.find_first_not_of("0123456789_") != std::string::npos) return "";
  return id;
}

// "key=value" words of `scontrol show job -o`.
std::string Field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    if (word.rfind(key + "=", 0) == 0) return word.substr(key.size() + 1);
  }
  return "";
}

}  // namespace

bool SlurmStateFinal(const std::string& state) {
  static const std::set<std::string> kFinal = {"COMPLETED", "FAILED",        "CANCELLED", "TIMEOUT",
                                               "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"};
  return kFinal.count(state) > 0;
}

std::string SlurmJobState(const std::string& id) {
  auto r = RunProcess({"squeue", "--noheader", "--jobs", id, "--format=%T"}, kToolTimeoutS);
  if (!r.ok() || r.value().exit_code != 0) return "";
  return r.value().out.substr(0, r.value().out.find_first_of(" \n"));
}

std::vector<std::pair<std::string, std::string>> SlurmJobsOfFolder(const std::string& run_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  auto r = RunProcess({"squeue", "--noheader", "--format=%i|%T|%o"}, kToolTimeoutS);
  if (!r.ok() || r.value().exit_code != 0) return out;
  std::istringstream in(r.value().out);
  std::string line;
  const std::string mine = run_dir + "/slurm/";
  while (std::getline(in, line)) {
    const size_t a = line.find('|'), b = a == std::string::npos ? a : line.find('|', a + 1);
    if (b == std::string::npos || line.compare(b + 1, mine.size(), mine) != 0) continue;
    const std::string state = line.substr(a + 1, b - a - 1);
    if (!SlurmStateFinal(state)) out.emplace_back(line.substr(0, a), state);
  }
  return out;
}

JobPoll SlurmPoll(const std::string& state, const std::string& exit_field) {
  JobPoll p;
  if (!SlurmStateFinal(state)) {
    p.phase = JobPhase::kRunning;  // PENDING, RUNNING, COMPLETING, REQUEUED, PREEMPTED, SUSPENDED, unknown...
    return p;
  }
  p.phase = JobPhase::kExited;
  const size_t colon = exit_field.find(':');
  const int code = std::atoi(exit_field.substr(0, colon).c_str());
  const int sig = colon == std::string::npos ? 0 : std::atoi(exit_field.substr(colon + 1).c_str());
  if (state == "COMPLETED") {
    p.exit_code = 0;
  } else if (state == "FAILED") {
    p.exit_code = code != 0 ? code : sig != 0 ? 128 + sig : 1;
  } else if (state == "CANCELLED") {
    p.exit_code = 128 + (sig != 0 ? sig : 15);
  } else {
    p.exit_code = 5;  // TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE: the job did not end by itself
  }
  return p;
}

SlurmExecutor::SlurmExecutor(SlurmExecutorOptions o) : o_(std::move(o)) {
  if (!o_.clock) o_.clock = &SteadyClock();
}

Result<std::string> SlurmExecutor::Launch(const JobLaunch& job) {
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(job.config, {}));
  SlurmOptions so = SlurmOptionsFromConfig(cfg);
  so.ntasks = job.ranks;
  so.job_name = cfg.Str("name") + "-job" + std::to_string(job.job);
  DRIFTRUN_RETURN_IF_ERROR(ValidateSlurmOptions(so).WithContext("the [slurm] section of " + job.config));
  const BatchPaths paths{o_.driftrun, AbsolutePath(job.config), AbsolutePath(job.run_dir),
                         o_.workdir,  AbsolutePath(job.log),    ""};
  DRIFTRUN_RETURN_IF_ERROR(ValidateBatchPaths(paths));
  const std::string script = paths.run_dir + "/slurm/job.sbatch";
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(paths.run_dir + "/slurm"));
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(script, RenderBatchScript(so, paths)));
  chmod(script.c_str(), 0755);
  DRIFTRUN_ASSIGN_OR_RETURN(const std::string id, Sbatch(script));
  states_[id] = "PENDING";
  return std::string(kPrefix) + id;
}

// One squeue call for every live job of this user (kept by Slurm for
// MinJobAge after the end); a failing squeue keeps the last known states.
void SlurmExecutor::Refresh() {
  const double now = o_.clock->Seconds();
  if (now - refreshed_at_ < o_.query_interval_s) return;
  auto r = RunProcess({"squeue", "--noheader", "--me", "--states=all", "--format=%i %T"}, kToolTimeoutS);
  if (!r.ok() || r.value().exit_code != 0) return;
  refreshed_at_ = now;
  std::map<std::string, std::string> seen;
  std::istringstream in(r.value().out);
  std::string id, state;
  while (in >> id >> state) seen[id] = state;
  for (auto& [job, st] : states_) {
    auto it = seen.find(job);
    st = it == seen.end() ? "" : it->second;  // "": ask scontrol
  }
}

std::string SlurmExecutor::FinalState(const std::string& id, std::string* exit_field) {
  auto r = RunProcess({"scontrol", "show", "job", "-o", id}, kToolTimeoutS);
  if (!r.ok()) return "?";  // scontrol missing: wait
  if (r.value().exit_code != 0) {
    const std::string& err = r.value().err;
    return err.find("Invalid job id") != std::string::npos ? "" : "?";  // "": Slurm forgot the job
  }
  *exit_field = Field(r.value().out, "ExitCode");
  return Field(r.value().out, "JobState");
}

JobPoll SlurmExecutor::Poll(const std::string& handle) {
  JobPoll p;
  const std::string id = JobId(handle);
  if (id.empty()) return p;  // kLost: not a Slurm handle
  if (!states_.count(id)) {
    states_[id] = "";  // a job of an earlier service run: follow it
    refreshed_at_ = -1e300;
  }
  Refresh();
  std::string state = states_[id], exit_field;
  if (state.empty() || SlurmStateFinal(state)) {
    state = FinalState(id, &exit_field);
    if (state.empty()) {  // unknown to Slurm now: launching again resumes it (or finds it done)
      states_.erase(id);
      return p;
    }
    if (state == "?") {
      p.phase = JobPhase::kRunning;
      return p;
    }
  }
  p = SlurmPoll(state, exit_field);
  if (p.phase == JobPhase::kExited) {
    states_.erase(id);
  } else {
    states_[id] = state;
  }
  return p;
}

void SlurmExecutor::Stop(const std::string& handle) {
  const std::string id = JobId(handle);
  if (id.empty()) return;
  // Signalling a job that has not started fails: then it is cancelled, since
  // it has nothing to checkpoint.
  auto r = RunProcess({"scancel", "--signal=TERM", id}, kToolTimeoutS);
  if (!r.ok() || r.value().exit_code == 0) return;
  if (SlurmJobState(id) == "PENDING") (void)RunProcess({"scancel", id}, kToolTimeoutS);
}

int SlurmExecutor::Running() const {
  return static_cast<int>(states_.size());
}

nlohmann::json SlurmExecutor::Snapshot() const {
  nlohmann::json jobs = nlohmann::json::object();
  for (const auto& [id, st] : states_) jobs[id] = st.empty() ? "unknown" : st;
  return {{"slurm_jobs", jobs}};
}

}  // namespace driftrun
