#include "scheduler/local_executor.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace driftrun {
namespace {

constexpr char kPidPrefix[] = "pid:";

pid_t ParseHandle(const std::string& handle) {
  if (handle.rfind(kPidPrefix, 0) != 0) return -1;
  const std::string n = handle.substr(sizeof(kPidPrefix) - 1);
  if (n.empty() || n.size() > 9 || n.find_first_not_of("0123456789") != std::string::npos) return -1;
  return static_cast<pid_t>(std::stol(n));
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(const std::vector<char*>& argv, int log_fd, pid_t parent) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Dies with the service: the job checkpoints and exits (see the header).
  prctl(PR_SET_PDEATHSIG, SIGUSR1);
  // Its own process group: a Ctrl-C or a group-wide SIGTERM meant for the
  // service does not hit mpirun (which would report a failure); the service
  // stops its jobs itself, with SIGUSR1.
  setpgid(0, 0);
  if (getppid() != parent) _exit(75);  // the service died before prctl
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(log_fd, STDOUT_FILENO);
  dup2(log_fd, STDERR_FILENO);
  execvp(argv[0], argv.data());
  const char msg[] = "driftrun serve: cannot run mpirun (is Open MPI installed and on PATH?)\n";
  (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
  _exit(127);
}

}  // namespace

std::vector<std::string> LocalExecutor::Command(const JobLaunch& job) const {
  std::vector<std::string> cmd = {o_.mpirun, "-np", std::to_string(job.ranks)};
  cmd.insert(cmd.end(), o_.mpirun_args.begin(), o_.mpirun_args.end());
  cmd.insert(cmd.end(), {o_.driftrun, "train", "--config", job.config, "--run-dir", job.run_dir, "--resume",
                         "auto", "--quiet"});
  return cmd;
}

Result<std::string> LocalExecutor::Launch(const JobLaunch& job) {
  const std::vector<std::string> cmd = Command(job);
  std::vector<char*> argv;
  for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int log_fd = open(job.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Status::Infra("cannot open the job log '" + job.log + "': " + std::strerror(errno) +
                         "; check that the state folder is writable");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) ExecChild(argv, log_fd, parent);
  const int err = errno;
  close(log_fd);
  if (pid < 0)
    return Status::Infra("cannot start job " + std::to_string(job.job) + ": fork: " + std::strerror(err));
  children_[pid] = job.job;
  return std::string(kPidPrefix) + std::to_string(pid);
}

JobPoll LocalExecutor::Poll(const std::string& handle) {
  JobPoll p;
  const pid_t pid = ParseHandle(handle);
  if (pid <= 0 || children_.count(pid) == 0) return p;  // kLost: not a child of this process
  int status = 0;
  pid_t r = 0;
  do {
    r = waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) {
    p.phase = JobPhase::kRunning;
    return p;
  }
  children_.erase(pid);
  if (r < 0) return p;
  p.phase = JobPhase::kExited;
  p.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  return p;
}

void LocalExecutor::Stop(const std::string& handle) {
  const pid_t pid = ParseHandle(handle);
  if (pid > 0 && children_.count(pid) > 0) kill(pid, SIGUSR1);
}

}  // namespace driftrun
