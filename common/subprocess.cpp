#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace driftrun {
namespace {

constexpr size_t kKeepBytes = size_t{1} << 20;
constexpr int kExecFailed = 127;

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(const std::vector<char*>& argv, int out_fd, int err_fd, int status_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  execvp(argv[0], argv.data());
  const int e = errno;
  (void)!write(status_fd, &e, sizeof(e));  // the parent learns why exec failed
  _exit(kExecFailed);
}

// Reads both pipes until they close or the deadline passes; false on timeout.
bool Drain(int out_fd, int err_fd, double timeout_s, ProcessResult* r) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&r->out, &r->err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    const int n = poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        if (sinks[i]->size() < kKeepBytes) sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  return true;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

}  // namespace

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv, double timeout_s) {
  if (argv.empty()) return Status::Infra("RunProcess: no command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2], err[2], status[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    return Status::Infra("cannot run " + argv[0] + ": pipe: " + std::strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out[0]);
    close(out[1]);
    return Status::Infra("cannot run " + argv[0] + ": pipe: " + std::strerror(e));
  }
  const pid_t pid = fork();
  if (pid == 0) ExecChild(args, out[1], err[1], status[1]);
  const int fork_errno = errno;
  close(out[1]);
  close(err[1]);
  close(status[1]);
  if (pid < 0) {
    for (int fd : {out[0], err[0], status[0]}) close(fd);
    return Status::Infra("cannot run " + argv[0] + ": fork: " + std::strerror(fork_errno));
  }
  ProcessResult r;
  const bool in_time = Drain(out[0], err[0], timeout_s, &r);
  close(out[0]);
  close(err[0]);
  if (!in_time) kill(pid, SIGKILL);
  int exec_errno = 0;
  const bool exec_failed = read(status[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno);
  close(status[0]);
  r.exit_code = WaitExit(pid);
  if (exec_failed) {
    return Status::Infra("cannot run '" + argv[0] + "': " + std::strerror(exec_errno) +
                         (exec_errno == ENOENT ? " (is it installed and on PATH?)" : ""));
  }
  if (!in_time) r.exit_code = 124;
  return r;
}

}  // namespace driftrun
