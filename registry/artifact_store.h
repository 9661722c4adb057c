// Where registry artifacts live, addressed by the sha256 of their bytes. The
// local folder (<root>/artifacts/<ab>/<sha256>.<ext>) is the embedded default; an
// object store can implement the same interface for many clusters (DESIGN.md,
// Scale). Keys are store-relative names built only from the digest and a
// checked extension, so no key can point outside the store.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace driftrun {

struct StoredFile {
  std::string key;  // e.g. "artifacts/5c/5c..e1.onnx"
  std::string sha256;
  int64_t bytes = 0;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  // Copies `file` in (stored once per content, written atomically).
  virtual Result<StoredFile> Put(const std::string& file) = 0;
  // A local path to read `key` from; Status::Data for a key that is not one of
  // this store's (an edited database).
  virtual Result<std::string> Path(const std::string& key) const = 0;
  // A scratch path inside the store for a file about to be Put (same file
  // system, so nothing large crosses devices).
  virtual std::string Scratch(const std::string& name) const = 0;
};

std::unique_ptr<ArtifactStore> LocalArtifactStore(const std::string& root);

}  // namespace driftrun
