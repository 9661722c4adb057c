#include "common/file_lock.h"

#include "common/file_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace driftrun {
namespace {

std::string HostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[512];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// The value of `key=` in a lock file's text ("" when absent).
std::string Field(const std::string& text, const std::string& key) {
  const std::string k = key + "=";
  size_t p = text.find(k);
  if (p == std::string::npos) return "";
  size_t e = text.find_first_of(" \n", p);
  return text.substr(p + k.size(), e == std::string::npos ? std::string::npos : e - p - k.size());
}

// Whether process `pid` has died but is not yet reaped (state Z in /proc).
bool IsZombie(const std::string& pid) {
  auto stat = ReadFile("/proc/" + pid + "/stat");
  if (!stat.ok()) return false;
  const size_t close = stat.value().rfind(')');  // the command name may hold spaces and parentheses
  return close != std::string::npos && close + 2 < stat.value().size() && stat.value()[close + 2] == 'Z';
}

// The stale-lock warning for a lock file whose holder is gone ("" if empty).
std::string StaleWarning(const std::string& text, const std::string& what) {
  if (text.empty()) return "";
  const std::string host = Field(text, "host"), pid = Field(text, "pid");
  std::string who = "process " + (pid.empty() ? std::string("?") : pid) + " on host " + host;
  if (host == HostName() && !pid.empty() && ::kill(std::atoi(pid.c_str()), 0) == 0 && !IsZombie(pid)) {
    who += " (that pid now belongs to another process)";
  }
  return "took over the stale lock of " + what + " left by " + who + ", which no longer holds it";
}

bool SameInode(int fd, const std::string& path) {
  struct stat a, b;
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

std::string LockOwnerText() {
  return "host=" + HostName() + " pid=" + std::to_string(::getpid());
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    Release();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

Result<FileLock> FileLock::Acquire(const std::string& path, const std::string& what, std::string* warning) {
  warning->clear();
  // Retry when the file we locked was removed (released) meanwhile: a lock on
  // an unlinked file would exclude nobody.
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Status::Infra("cannot create the lock file '" + path + "' of " + what + ": " +
                           std::strerror(errno) + ". Check that the folder exists and is writable");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = ReadAll(fd);
      ::close(fd);
      if (err != EWOULDBLOCK) {
        return Status::Infra("cannot lock '" + path + "': " + std::strerror(err));
      }
      return Status::Usage(what + " is in use by another driftrun process (" +
                           (holder.empty() ? std::string("holder not yet recorded") : holder) +
                           ", lock file " + path +
                           "). Wait for it to finish, stop it, or choose another folder");
    }
    if (!SameInode(fd, path)) {
      ::close(fd);
      continue;
    }
    *warning = StaleWarning(ReadAll(fd), what);
    const std::string me = LockOwnerText() + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
      ::close(fd);
      return Status::Infra("cannot write the lock file '" + path + "' (disk full?)");
    }
    FileLock l;
    l.fd_ = fd;
    l.path_ = path;
    return l;
  }
  return Status::Infra("cannot lock '" + path + "': it keeps being replaced");
}

void FileLock::Release() {
  if (fd_ < 0) return;
  // Unlink while still holding the flock, so no one locks the file being removed
  // (a waiter that opened it before re-checks the inode).
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

std::string LiveLockHolder(const std::string& path) {
  auto text = ReadFile(path, 4096);
  if (!text.ok()) return "";
  std::string t = text.value();
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  const std::string host = Field(t, "host"), pid = Field(t, "pid");
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) return "";
  if (host != HostName()) return t;
  return ::kill(std::atoi(pid.c_str()), 0) == 0 && !IsZombie(pid) ? t : "";
}

}  // namespace driftrun
