#include "scheduler/slurm_attempts.h"

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_util.h"
#include "common/subprocess.h"

namespace driftrun {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string AttemptsPath(const std::string& run_dir) {
  return run_dir + "/slurm/attempts.jsonl";
}

Status Append(const std::string& run_dir, nlohmann::json line) {
  line["time"] = static_cast<int64_t>(std::time(nullptr));
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(run_dir + "/slurm"));
  return AppendLine(AttemptsPath(run_dir), line.dump());
}

const char* EndName(AttemptEnd how) {
  switch (how) {
    case AttemptEnd::kDone: return "done";
    case AttemptEnd::kFailed: return "failed";
    case AttemptEnd::kStopped: return "stopped";
    case AttemptEnd::kTimeLimit: return "time_limit";
  }
  return "?";
}

}  // namespace

SlurmJobEnv SlurmJobFromEnv() {
  SlurmJobEnv e;
  const std::string id = Env("SLURM_JOB_ID"), array = Env("SLURM_ARRAY_JOB_ID"),
                    task = Env("SLURM_ARRAY_TASK_ID");
  e.in_job = !id.empty();
  e.job = !array.empty() && !task.empty() ? array + "_" + task : id;
  e.restart = std::atoi(Env("SLURM_RESTART_COUNT").c_str());
  return e;
}

AttemptHistory ReadAttempts(const std::string& run_dir, const std::string& job) {
  AttemptHistory h;
  auto text = ReadFile(AttemptsPath(run_dir));
  if (!text.ok()) return h;
  std::istringstream in(text.value());
  std::string line;
  bool open = false;  // the last started attempt has not ended
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("job", "") != job) continue;
    const std::string ev = j.value("event", "");
    if (ev == "start") {
      if (open) ++h.lost;
      ++h.started;
      open = true;
    } else if (ev == "end") {
      open = false;
    } else if (ev == "requeue" && j.value("cause", "") == "time_limit") {
      ++h.time_limit_requeues;
    }
  }
  if (open) ++h.lost;
  h.last_lost = open;
  return h;
}

Status BeginAttempt(const std::string& run_dir, const SlurmJobEnv& env, int max_requeues) {
  const AttemptHistory h = ReadAttempts(run_dir, env.job);
  if (h.last_lost && h.lost > max_requeues) {
    (void)Append(run_dir,
                 {{"event", "end"}, {"job", env.job}, {"restart", env.restart}, {"cause", "refused"}});
    return Status::Infra("Slurm job " + env.job + " has restarted " + std::to_string(h.lost) +
                         " times after attempts that ended without stopping (a node failure or a killed "
                         "rank); slurm.max_requeues = " +
                         std::to_string(max_requeues) +
                         ", so this attempt does not train. The last checkpoint is kept: read the logs in " +
                         run_dir + "/slurm/logs, then continue with `driftrun submit --config " + run_dir +
                         "/slurm/config.toml --run-dir " + ShellQuote(run_dir) + "`");
  }
  return Append(run_dir, {{"event", "start"}, {"job", env.job}, {"restart", env.restart}});
}

Status EndAttempt(const std::string& run_dir, const SlurmJobEnv& env, AttemptEnd how, int64_t step,
                  int exit_code, int max_requeues, std::string* said) {
  said->clear();
  nlohmann::json end = {{"event", "end"},        {"job", env.job}, {"restart", env.restart},
                        {"cause", EndName(how)}, {"step", step},   {"exit", exit_code}};
  if (how != AttemptEnd::kTimeLimit) return Append(run_dir, end);
  const AttemptHistory h = ReadAttempts(run_dir, env.job);
  if (h.time_limit_requeues >= max_requeues) {
    end["exit"] = 5;
    end["requeued"] = false;
    DRIFTRUN_RETURN_IF_ERROR(Append(run_dir, end));
    return Status::Infra(
        "Slurm job " + env.job + " reached its time limit again at step " + std::to_string(step) + " after " +
        std::to_string(h.time_limit_requeues) +
        " requeues (slurm.max_requeues = " + std::to_string(max_requeues) +
        "); its checkpoint is kept. Continue with a longer --time: `driftrun submit --config " + run_dir +
        "/slurm/config.toml --run-dir " + ShellQuote(run_dir) + " --time ...`");
  }
  DRIFTRUN_RETURN_IF_ERROR(Append(run_dir, end));
  auto r = RunProcess({"scontrol", "requeue", env.job}, 60);
  if (!r.ok()) return r.status().WithContext("requeueing Slurm job " + env.job);
  if (r.value().exit_code != 0) {
    return Status::Infra("`scontrol requeue " + env.job + "` failed (exit " +
                         std::to_string(r.value().exit_code) + "): " + r.value().err +
                         "; the checkpoint at step " + std::to_string(step) +
                         " is kept: resubmit with driftrun submit --config " + run_dir +
                         "/slurm/config.toml --run-dir " + ShellQuote(run_dir));
  }
  DRIFTRUN_RETURN_IF_ERROR(Append(
      run_dir, {{"event", "requeue"}, {"job", env.job}, {"restart", env.restart}, {"cause", "time_limit"}}));
  *said = "time limit near: checkpointed at step " + std::to_string(step) + " and requeued Slurm job " +
          env.job + " (requeue " + std::to_string(h.time_limit_requeues + 1) + " of at most " +
          std::to_string(max_requeues) + "); it resumes from this checkpoint when Slurm starts it again";
  return Status::Ok();
}

}  // namespace driftrun
