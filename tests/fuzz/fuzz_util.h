// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cpp): a scratch folder
// unique to this process for targets whose reader takes a path, and a bounded
// byte reader for targets that decode structured inputs.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/file_util.h"

namespace driftrun::fuzz {

// A folder under $TMPDIR (or /tmp) made once per process and removed at exit.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/driftrun-fuzz-XXXXXX";
    if (!::mkdtemp(templ.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string keep;
    keep = templ;
    std::atexit([] { RemoveTree(keep); });
    return templ;
  }();
  return dir;
}

// Writes `size` bytes to ScratchDir()/name (replacing it) and returns the path.
inline std::string WriteScratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

// Consumes an input front to back; reads past the end give zeros.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  size_t left() const { return n_; }
  uint8_t U8() {
    if (!n_) return 0;
    --n_;
    return *p_++;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() | U8() << 8); }
  float F32() {
    uint32_t u = static_cast<uint32_t>(U16()) | static_cast<uint32_t>(U16()) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  std::string Str(size_t max) {
    size_t len = U8() % (max + 1);
    len = len < n_ ? len : n_;
    std::string s(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    n_ -= len;
    return s;
  }
  std::string Rest() {
    std::string s(reinterpret_cast<const char*>(p_), n_);
    p_ += n_;
    n_ = 0;
    return s;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace driftrun::fuzz
