#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace driftrun {
namespace {

Status PosixError(const std::string& what, const std::string& path, int err) {
  std::string hint = err == ENOSPC ? " (disk full: free space and retry)"
                     : err == EACCES ? " (permission denied: check the folder's owner)"
                                     : "";
  return Status::Infra(what + " '" + path + "': " + std::strerror(err) + hint);
}

std::string DirOf(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

std::string TempPathFor(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

Status FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return PosixError("cannot open for fsync", path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return PosixError("fsync failed for", path, err);
  return Status::Ok();
}

Status CommitFileAtomic(const std::string& tmp, const std::string& path) {
  Status st = FsyncPath(tmp);
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = PosixError("cannot rename temporary file onto", path, errno);
  }
  if (!st.ok()) {
    std::remove(tmp.c_str());
    return st;
  }
  return FsyncPath(DirOf(path));
}

Status WriteFileAtomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = TempPathFor(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return PosixError("cannot create", tmp, errno);
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      std::remove(tmp.c_str());
      return PosixError("cannot write", tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    return PosixError("cannot close", tmp, err);
  }
  return CommitFileAtomic(tmp, path);
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::Infra("cannot create folder '" + path + "': " + ec.message());
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Infra("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool PathExists(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0;
}

Status AppendLine(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return PosixError("cannot open for append", path, errno);
  std::string buf = line + "\n";
  ssize_t n = ::write(fd, buf.data(), buf.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(buf.size())) return PosixError("cannot append to", path, err);
  return Status::Ok();
}

}  // namespace driftrun
