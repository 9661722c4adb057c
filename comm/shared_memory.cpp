#include "comm/shared_memory.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>

#include "comm/collectives.h"

namespace driftrun {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHeader = kPage;  // the nonce, then the parts
constexpr size_t kNameBytes = 64;

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Rank 0: creates, sizes and maps the object; *nonce is written at its start.
void* Create(const std::string& name, size_t size, uint64_t nonce, std::string* why_not) {
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) {
    *why_not = Errno("shm_open(" + name + ")");
    return nullptr;
  }
  const int rc = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (rc != 0) {
    *why_not = "reserving " + std::to_string(size >> 20) + " MiB in /dev/shm: " + std::strerror(rc);
    close(fd);
    shm_unlink(name.c_str());
    return nullptr;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    *why_not = Errno("mmap");
    shm_unlink(name.c_str());
    return nullptr;
  }
  std::memcpy(p, &nonce, sizeof(nonce));
  return p;
}

// Other ranks: maps the object if it is the one rank 0 made (same nonce).
void* Open(const std::string& name, size_t size, uint64_t nonce, std::string* why_not) {
  const int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) {
    *why_not = Errno("shm_open(" + name + ")") + " (ranks on more than one host?)";
    return nullptr;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    *why_not = Errno("mmap");
    return nullptr;
  }
  uint64_t seen = 0;
  std::memcpy(&seen, p, sizeof(seen));
  if (seen != nonce) {
    *why_not = "another process's shared memory under " + name;
    munmap(p, size);
    return nullptr;
  }
  return p;
}

// Objects that a driftrun process made and did not unlink because it was
// killed while its ranks were mapping them (milliseconds at the start of a
// job): removed once their creator no longer runs.
void RemoveOrphans() {
  DIR* d = opendir("/dev/shm");
  if (!d) return;
  while (const dirent* e = readdir(d)) {
    int pid = 0;
    unsigned long long nonce = 0;
    if (std::sscanf(e->d_name, "driftrun-%d-%16llx", &pid, &nonce) != 2 || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // its creator runs (or is not ours to judge)
    shm_unlink(("/" + std::string(e->d_name)).c_str());
  }
  closedir(d);
}

}  // namespace

Result<std::unique_ptr<SharedMemory>> SharedMemory::Map(Communicator& comm, const std::vector<size_t>& bytes,
                                                        std::string* why_not) {
  std::vector<size_t> offset;
  size_t size = kHeader;
  for (size_t b : bytes) {
    offset.push_back(size);
    size += (b + kPage - 1) / kPage * kPage;
  }
  // Rank 0 names the object and makes it; the name and nonce go to everyone.
  std::array<char, kNameBytes> name{};
  uint64_t nonce = 0;
  std::string why;
  void* base = nullptr;
  if (comm.rank() == 0) {
    RemoveOrphans();
    nonce = std::random_device{}() * 0x100000000ULL + std::random_device{}() + 1;
    std::snprintf(name.data(), name.size(), "/driftrun-%d-%016llx", static_cast<int>(getpid()),
                  static_cast<unsigned long long>(nonce));
    base = Create(name.data(), size, nonce, &why);
    if (!base) name[0] = '\0';
  }
  DRIFTRUN_RETURN_IF_ERROR(comm.Broadcast(name.data(), name.size(), DType::kUInt8, 0));
  DRIFTRUN_RETURN_IF_ERROR(comm.Broadcast(&nonce, 1, DType::kInt64, 0));
  if (comm.rank() != 0 && name[0] != '\0') base = Open(name.data(), size, nonce, &why);
  // Everyone mapped it, or nobody uses it.
  int64_t ok = base ? 1 : 0;
  Status st = comm.AllReduce(&ok, 1, DType::kInt64, ReduceOp::kMin);
  if (comm.rank() == 0 && name[0] != '\0') shm_unlink(name.data());  // mapped where it will be
  if (!st.ok() || ok == 0) {
    if (base) munmap(base, size);
    if (!st.ok()) return st;
    // Every rank gives the same reason: that of the lowest rank that has one.
    int64_t first = why.empty() ? comm.size() : comm.rank();
    DRIFTRUN_RETURN_IF_ERROR(comm.AllReduce(&first, 1, DType::kInt64, ReduceOp::kMin));
    if (first < comm.size()) DRIFTRUN_RETURN_IF_ERROR(BroadcastString(comm, &why, static_cast<int>(first)));
    *why_not =
        why.empty() ? "a rank could not map rank 0's shared memory (ranks on more than one host?)" : why;
    return std::unique_ptr<SharedMemory>();
  }
  return std::unique_ptr<SharedMemory>(new SharedMemory(base, size, std::move(offset)));
}

SharedMemory::~SharedMemory() {
  munmap(base_, size_);
}

}  // namespace driftrun
