// SharedMemory: one block of memory that every rank of a communicator maps,
// when all of them run on one host (the ranks of `mpirun -np N` on one
// machine, a Slurm job on one node).
//
// Rank 0 creates a POSIX shared-memory object (shm_open) named after its pid
// and a random nonce, reserves its pages (posix_fallocate: a full /dev/shm is
// an error now, not a SIGBUS later), writes the nonce, and broadcasts the
// name; every other rank opens and maps it and checks the nonce. The name is
// unlinked as soon as every rank has mapped it, so nothing stays in /dev/shm
// whatever happens to the processes later. (A rank killed during those few
// milliseconds can leave the object behind: the next Map() on the host
// removes every driftrun object whose creating process is gone.) Unmapping is
// local: no collective at the end, so a rank that stops early never leaves
// another waiting.
//
// Whether the ranks share a host is decided by trying: a rank that cannot open
// the object (another host, another container's /dev/shm) makes Map() return
// null on every rank with the reason, not an error.
//
// Rank r's part starts at offset(r), on a 4096-byte boundary. Not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/status.h"

namespace driftrun {

class SharedMemory {
 public:
  // Collective over `comm`. `bytes[r]` is rank r's part (the same vector on
  // every rank). Null (with *why_not set) when the ranks cannot share memory;
  // Status::Infra when a collective fails.
  static Result<std::unique_ptr<SharedMemory>> Map(Communicator& comm, const std::vector<size_t>& bytes,
                                                   std::string* why_not);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;

  // Rank r's part.
  void* part(int r) const { return static_cast<char*>(base_) + offset_[r]; }
  size_t offset(int r) const { return offset_[r]; }

 private:
  SharedMemory(void* base, size_t size, std::vector<size_t> offset)
      : base_(base), size_(size), offset_(std::move(offset)) {}
  void* base_;
  size_t size_;
  std::vector<size_t> offset_;
};

}  // namespace driftrun
