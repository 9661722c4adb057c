#include "common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace driftrun {
namespace {

Status PosixError(const std::string& what, const std::string& path, int err) {
  std::string hint = err == ENOSPC ? " (disk full: free space and retry)"
                     : err == EFBIG || err == EDQUOT
                         ? " (file size limit or disk quota reached: free space or raise the limit)"
                     : err == EACCES ? " (permission denied: check the folder's owner)"
                                     : "";
  return Status::Infra(what + " '" + path + "': " + std::strerror(err) + hint);
}

}  // namespace

namespace {
constexpr char kTempInfix[] = ".tmp.";

bool IsPid(const std::string& s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
}
}  // namespace

std::string TempPathFor(const std::string& path) {
  return path + kTempInfix + std::to_string(::getpid());
}

bool IsTempFileName(const std::string& name) {
  const size_t at = name.rfind(kTempInfix);
  if (at == std::string::npos || at == 0) return false;
  return IsPid(name.substr(at + sizeof(kTempInfix) - 1));
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

namespace {
std::string& KillBeforeCommit() {
  static std::string text;
  return text;
}
}  // namespace

void InitProcessForFiles() {
  std::signal(SIGXFSZ, SIG_IGN);
  const char* kill = std::getenv("DRIFTRUN_FAULT_KILL_BEFORE_COMMIT");
  if (kill && *kill) KillBeforeCommit() = kill;
}

Status CommitFileAtomic(const std::string& tmp, const std::string& path) {
  Status st = FsyncPath(tmp);
  if (!KillBeforeCommit().empty() && path.find(KillBeforeCommit()) != std::string::npos) std::raise(SIGKILL);
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = PosixError("cannot rename temporary file onto", path, errno);
  }
  if (!st.ok()) {
    std::remove(tmp.c_str());
    return st;
  }
  return FsyncPath(DirName(path));
}

void RemoveStaleTemps(const std::string& path) {
  const std::string dir = DirName(path);
  const std::string prefix = path.substr(path.find_last_of('/') + 1) + kTempInfix;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (!IsPid(pid)) continue;
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH)
      std::remove((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

Status WriteFileAtomic(const std::string& path, const std::string& bytes) {
  RemoveStaleTemps(path);
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

Status LinkOrCopyFile(const std::string& from, const std::string& to) {
  if (PathExists(to)) return Status::Ok();
  if (::link(from.c_str(), to.c_str()) == 0) return Status::Ok();
  if (errno == EEXIST) return Status::Ok();
  if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP)
    return PosixError("cannot link to " + from + " as", to, errno);
  RemoveStaleTemps(to);
  const std::string tmp = TempPathFor(to);
  const int in = ::open(from.c_str(), O_RDONLY);
  if (in < 0) return PosixError("cannot open", from, errno);
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return PosixError("cannot create", tmp, err);
  }
  std::vector<char> buf(size_t{1} << 20);
  Status st;
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = PosixError("cannot read", from, errno);
      break;
    }
    for (ssize_t off = 0; off < n && st.ok();) {
      const ssize_t w = ::write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno != EINTR) st = PosixError("cannot write", tmp, errno);
      if (w > 0) off += w;
    }
    if (!st.ok()) break;
  }
  ::close(in);
  if (::close(out) != 0 && st.ok()) st = PosixError("cannot close", tmp, errno);
  if (!st.ok()) {
    std::remove(tmp.c_str());
    return st;
  }
  return CommitFileAtomic(tmp, to);
}

Status MakeDirs(const std::string& path) {
  if (path.empty() || IsDir(path)) return Status::Ok();
  std::string parent = DirName(path);
  if (parent != path && parent != ".") DRIFTRUN_RETURN_IF_ERROR(MakeDirs(parent));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return PosixError("cannot create folder", path, errno);
  }
  if (!IsDir(path)) return Status::Infra("cannot create folder '" + path + "': a file of that name exists");
  return Status::Ok();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool IsDir(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

std::string FileIdentity(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) return "";
  // No device number: a file on a shared file system has another one on each
  // host (a Slurm job's compute node, the service's login node).
  return FormatFileIdentity(static_cast<uint64_t>(sb.st_ino), static_cast<int64_t>(sb.st_size),
                            static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec);
}

std::string FormatFileIdentity(uint64_t ino, int64_t size, int64_t mtime_ns) {
  return std::to_string(ino) + ":" + std::to_string(size) + ":" + std::to_string(mtime_ns);
}

int64_t FileSize(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0 ? static_cast<int64_t>(sb.st_size) : -1;
}

void RemoveTree(const std::string& path) {
  struct stat sb;
  if (::lstat(path.c_str(), &sb) != 0) return;
  if (S_ISDIR(sb.st_mode)) {
    for (const auto& n : ListDir(path)) RemoveTree(path + "/" + n);
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

std::string DirName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::string> ReadFile(const std::string& path, int64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Infra("cannot open '" + path + "'");
  auto too_big = [&](int64_t size) {
    return Status::Data("'" + path + "' is " + (size < 0 ? "larger than " : "") +
                        std::to_string(size < 0 ? max_bytes : size) + " bytes, over the limit of " +
                        std::to_string(max_bytes) + " bytes for this kind of file");
  };
  const int64_t size = FileSize(path);
  if (size > max_bytes) return too_big(size);
  std::string out;
  if (size > 0) out.reserve(static_cast<size_t>(size));
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    if (static_cast<int64_t>(out.size()) + in.gcount() > max_bytes) return too_big(-1);
    out.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return Status::Infra("reading '" + path + "' failed");
  return out;
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

namespace {

// Absolute path with the existing part resolved by realpath(3).
std::string Resolve(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf)) return buf;
  const std::string dir = DirName(p);
  if (realpath(dir.c_str(), buf)) return std::string(buf) + "/" + BaseName(p);
  return p;
}

}  // namespace

std::string AbsolutePath(const std::string& p, const std::string& base) {
  if (p.empty()) return p;
  std::string joined = p;
  if (p[0] != '/') {
    std::string b = base;
    if (b.empty() || b[0] != '/') {
      char cwd[PATH_MAX];
      const std::string here = ::getcwd(cwd, sizeof(cwd)) ? cwd : "/";
      b = b.empty() || b == "." ? here : here + "/" + b;
    }
    joined = b + "/" + p;
  }
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= joined.size()) {
    size_t next = joined.find('/', pos);
    if (next == std::string::npos) next = joined.size();
    const std::string seg = joined.substr(pos, next - pos);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    pos = next + 1;
  }
  std::string out;
  for (const auto& s : parts) out += "/" + s;
  return out.empty() ? "/" : out;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0) {
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  }
  return Resolve(a) == Resolve(b);
}

Status CheckNotInput(const std::string& out, const std::vector<std::string>& inputs,
                     const std::string& flag) {
  for (const auto& in : inputs) {
    if (!in.empty() && !out.empty() && SameFile(out, in)) {
      return Status::Usage(flag + " '" + out + "' is the input file '" + in +
                           "'; writing it would destroy the input. Write the output to another file");
    }
  }
  return Status::Ok();
}

Status CheckOutputPath(const std::string& path, const std::string& flag, const std::string& what,
                       const std::function<bool(const std::string&)>& earlier) {
  if (path.empty()) return Status::Usage(flag + " needs a file name");
  if (IsDir(path)) return Status::Usage(flag + " '" + path + "' is a folder; name a file in it");
  const std::string dir = DirName(path);
  if (!dir.empty() && !IsDir(dir))
    return Status::Usage(flag + " '" + path + "': the folder '" + dir + "' does not exist; create it first");
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return Status::Ok();  // a new file
  // Never opened to look (a pipe would block), never renamed over (a device
  // node, /dev/null itself, would be replaced; a symbolic link would become a file).
  if (!S_ISREG(st.st_mode)) {
    return Status::Usage(flag + " '" + path + "' exists and is not a regular file (" +
                         (S_ISLNK(st.st_mode)    ? "a symbolic link: name the file it points to"
                          : S_ISFIFO(st.st_mode) ? "a pipe"
                                                 : "a device or socket") +
                         "); name a new file");
  }
  if (st.st_size == 0 || earlier(path)) return Status::Ok();
  return Status::Usage(flag + " '" + path + "' exists and is not " + what +
                       "; writing there would destroy it. Name a new file (an earlier output of this command "
                       "is replaced)");
}

std::string FileHead(const std::string& path, size_t n) {
  std::string h(n, '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(h.data(), static_cast<std::streamsize>(n));
  h.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  return h;
}

bool LooksLikeHdf5(const std::string& path) {
  static const std::string kSignature("\x89HDF\r\n\x1a\n", 8);
  const std::string h = FileHead(path, 2056);
  for (size_t at : {0, 512, 1024, 2048})
    if (h.size() >= at + kSignature.size() && h.compare(at, kSignature.size(), kSignature) == 0) return true;
  return false;
}

std::string ShellQuote(const std::string& a) {
  if (!a.empty() &&
      a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@") ==
          std::string::npos) {
    return a;
  }
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace driftrun
