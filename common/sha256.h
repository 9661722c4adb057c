// SHA-256 of bytes and files (FIPS 180-4), for checkpoint manifests and, later,
// the content-addressed artifact store. No external crypto dependency.
// Thread-safety: Sha256 objects are not shared; the free functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace driftrun {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  // Returns the lowercase hex digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(const std::string& bytes);
// Hashes a whole file; a Status::Infra when it cannot be read.
Result<std::string> Sha256File(const std::string& path);

}  // namespace driftrun
