#include "registry/artifact_store.h"

#include <cctype>

#include "common/file_util.h"
#include "common/sha256.h"

namespace driftrun {
namespace {

// The file's extension when it is short and plain (".onnx", ".h5"), else "".
std::string Extension(const std::string& file) {
  const size_t dot = file.rfind('.');
  if (dot == std::string::npos || file.find('/', dot) != std::string::npos || file.size() - dot > 8)
    return "";
  std::string ext = file.substr(dot);
  for (size_t i = 1; i < ext.size(); ++i) {
    if (!std::isalnum(static_cast<unsigned char>(ext[i]))) return "";
  }
  return ext;
}

// Artifacts (ONNX, checkpoints, profiles) are copied through memory.
constexpr int64_t kMaxArtifactBytes = int64_t{16} << 30;

class Local : public ArtifactStore {
 public:
  explicit Local(std::string root) : root_(std::move(root)) {}

  Result<StoredFile> Put(const std::string& file) override {
    DRIFTRUN_ASSIGN_OR_RETURN(std::string content, ReadFile(file, kMaxArtifactBytes));
    StoredFile f;
    f.sha256 = Sha256Hex(content);
    f.bytes = static_cast<int64_t>(content.size());
    f.key = "artifacts/" + f.sha256.substr(0, 2) + "/" + f.sha256 + Extension(file);
    const std::string dest = root_ + "/" + f.key;
    auto existing = Sha256File(dest);
    if (existing.ok() && existing.value() == f.sha256) return f;
    DRIFTRUN_RETURN_IF_ERROR(MakeDirs(DirName(dest)));
    DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(dest, content));
    return f;
  }

  Result<std::string> Path(const std::string& key) const override {
    bool safe = key.rfind("artifacts/", 0) == 0 && key.find("..") == std::string::npos;
    for (char c : key) safe = safe && (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.');
    if (!safe) {
      return Status::Data("artifact path '" + key +
                          "' lies outside the artifact store; the registry database was edited by hand");
    }
    return root_ + "/" + key;
  }

  std::string Scratch(const std::string& name) const override { return root_ + "/artifacts/." + name; }

 private:
  std::string root_;
};

}  // namespace

std::unique_ptr<ArtifactStore> LocalArtifactStore(const std::string& root) {
  return std::make_unique<Local>(root);
}

}  // namespace driftrun
