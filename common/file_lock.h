// FileLock: an exclusive lock on a folder's lock file (flock), naming its holder.
//
// Acquire() creates `path` if needed, takes flock(LOCK_EX | LOCK_NB) and writes
// "host=<hostname> pid=<pid>" into it. A second process asking for the lock gets
// Status::Usage naming the holder (its host and pid) instead of waiting. A lock
// file left by a process that died without releasing it holds no flock any more:
// it is taken over, with a warning naming the dead holder. The lock is released
// (and the file removed) when the FileLock is destroyed or Release()d; the
// kernel releases it when the process dies, however it dies.
//
// The lock is advisory: it stops other driftrun processes, not other tools.
// Not thread-safe; one FileLock per path per process.
#pragma once

#include <string>

#include "common/status.h"

namespace driftrun {

class FileLock {
 public:
  FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock(FileLock&& o) noexcept { *this = std::move(o); }
  FileLock& operator=(FileLock&& o) noexcept;
  ~FileLock() { Release(); }

  // `what` names the locked thing in messages ("run folder 'runs/x'"). On
  // success, *warning is set when a stale lock was taken over, else cleared.
  static Result<FileLock> Acquire(const std::string& path, const std::string& what, std::string* warning);

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  void Release();

 private:
  int fd_ = -1;
  std::string path_;
};

// "host=<hostname> pid=<pid>" of the calling process, as lock files record it.
std::string LockOwnerText();

// The owner text of the lock file at `path` when it names a live process on
// this host (or any process on another host, which cannot be checked); ""
// when there is no lock file or its process has died. Reads only: never
// takes the lock, so it cannot get in the way of its holder.
std::string LiveLockHolder(const std::string& path);

}  // namespace driftrun
