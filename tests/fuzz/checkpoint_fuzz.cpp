// Fuzz target: the checkpoint manifest and checkpoint reader (models/checkpoint.h).
// Input: a 2-byte little-endian manifest length, the manifest (JSON), then the
// data file's bytes. Both are written to a scratch checkpoint folder as
// ckpt-000000001.{json,h5}; the target verifies and reads the checkpoint by its
// manifest, reads the data file without a digest (as a registry artifact is
// read), and looks for the newest checkpoint of the folder and of a run folder.
#include <cstdint>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "dataio/h5_io.h"
#include "models/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace driftrun;
  SetH5ReadLimitBytes(int64_t{16} << 20);  // bounded cost per input
  fuzz::Bytes in(data, size);
  const size_t len = in.U16();
  const size_t manifest_len = len < in.left() ? len : in.left();
  const uint8_t* manifest = data + (size - in.left());
  const uint8_t* h5 = manifest + manifest_len;
  const size_t h5_len = in.left() - manifest_len;

  const std::string run = fuzz::ScratchDir() + "/run";
  const std::string dir = run + "/checkpoints";
  if (!MakeDirs(dir).ok()) return 0;
  const std::string json_path =
      fuzz::WriteScratch("run/checkpoints/ckpt-000000001.json", manifest, manifest_len);
  const std::string h5_path = fuzz::WriteScratch("run/checkpoints/ckpt-000000001.h5", h5, h5_len);

  (void)VerifyCheckpoint(json_path);
  auto s = ReadCheckpoint(json_path);
  if (s.ok()) (void)s.value().model.size();
  (void)ReadCheckpoint(h5_path);
  (void)ReadCheckpointData(h5_path, "");
  std::vector<std::string> warnings;
  (void)FindLatestCheckpoint(dir, &warnings);
  (void)RunCheckpoint(run);
  return 0;
}
