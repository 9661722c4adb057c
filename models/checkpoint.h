// Checkpoints: atomic, checksummed, last K kept, readable without driftrun.
//
// A checkpoint is two files in the checkpoint folder:
//   ckpt-<step>.h5    HDF5 (h5py can read it): /model/<param>, /optim/<param>/<slot>,
//                     /preprocess/{fill,shift,scale,lo,hi}, root attributes for step,
//                     epoch (1-based: the epoch it was written in, or at the end
//                     of when next_batch is 0), next_batch, world size, ...
//   ckpt-<step>.json  the manifest: file name (in the same folder), sha256, size,
//                     step, config hash, run id and serial (a folder-wide write
//                     counter: the newest checkpoint is the highest serial).
// The .h5 is written to a temporary name, fsynced and renamed; the manifest is
// written the same way afterwards, so a checkpoint exists only once both are
// whole. A checkpoint is valid when its manifest parses and the sha256 matches;
// reading hashes and parses the same bytes (read once). The same run's older
// checkpoints beyond `keep` are removed manifest first; other runs' are kept.
//
// Written by one rank (rank 0); read by all. Not thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "models/preprocess_params.h"

namespace driftrun {

struct NamedArray {
  std::string name;
  std::vector<int64_t> dims;
  std::vector<float> data;
};

struct CheckpointState {
  int64_t step = 0;        // optimizer steps done
  int64_t epoch = 0;       // 0-based epoch to continue in (files record it 1-based, see FileEpoch)
  int64_t next_batch = 0;  // first batch of `epoch` not yet trained
  int64_t world_size = 1;
  int64_t classes = 0;
  int64_t in_dim = 0;
  int64_t out_dim = 0;
  double epoch_loss_sum = 0;  // train loss accumulated in the current epoch
  int64_t epoch_loss_steps = 0;
  double samples_seen = 0;
  // The epoch order when the run streams its data (dataio/stream_order.h):
  // 0 chunk rows = held in memory. A resume keeps it whatever data.memory_mb says.
  int64_t stream_chunk_rows = 0;
  int64_t stream_window_chunks = 0;
  // Training rows of the whole data set (0: not recorded, older checkpoints).
  int64_t train_rows = 0;
  // A hash of a sample of the training rows (trainers: TrainDataSample), so a
  // resume notices data replaced by other data of the same size ("": not
  // recorded, older checkpoints).
  std::string train_sample;
  std::string config_hash;
  // Which run wrote it (kept across resumes; manifest only): pruning removes
  // only this run's older checkpoints.
  std::string run_id;
  // Mean training loss of the epoch so far, or of the epoch just finished at
  // an epoch boundary (manifest only; NaN: unknown). Pruning keeps this run's
  // checkpoint with the lowest one besides the newest `keep`, so a run that
  // diverged still has a healthy checkpoint to resume from.
  double train_loss = NAN;
  std::string task;
  std::string model_spec;  // ModelSpec::ToJson(): the architecture (models/model_spec.h)
  std::vector<NamedArray> model;
  std::vector<NamedArray> optim;
  Preprocessor pre;
};

// Writes ckpt-<step> into `dir` (created if needed) and prunes to `keep`.
// Returns the manifest path.
Result<std::string> WriteCheckpoint(const std::string& dir, const CheckpointState& state, int keep);

// The manifest of run `run_id`'s checkpoint in `dir` with the lowest training
// loss (CheckpointState::train_loss), "" when none records one.
std::string LowestLossCheckpoint(const std::string& dir, const std::string& run_id);

// Reads and verifies a checkpoint given its manifest (.json) or data (.h5) path.
Result<CheckpointState> ReadCheckpoint(const std::string& path);

// Reads a checkpoint's data file directly (a registry artifact has no manifest);
// with sha256 non-empty, first checks the file against it.
Result<CheckpointState> ReadCheckpointData(const std::string& h5_path, const std::string& sha256);

// Verifies a checkpoint (manifest parses, file exists, sha256 matches).
Status VerifyCheckpoint(const std::string& manifest_path);

// Newest valid checkpoint manifest in `dir`, or "" when there is none. Invalid
// ones are skipped with a line in `warnings`.
std::string FindLatestCheckpoint(const std::string& dir, std::vector<std::string>* warnings);

// The newest checkpoint manifest of a run folder's checkpoints/: Status::Usage
// when the folder does not exist, Status::Data when it has no valid checkpoint
// or when its newest one is invalid (an older one is never taken silently).
Result<std::string> RunCheckpoint(const std::string& run_dir);

// What a run folder's summary.json says about the run's end.
struct RunEnd {
  std::string status;      // "done", or what the summary says
  std::string checkpoint;  // the checkpoint manifest it describes
  // Whether the run finished with `manifest` (compared by file name): a
  // summary is the folder's result only until a resume trains past it.
  bool DoneAt(const std::string& manifest) const;
};
// nullopt when run_dir/summary.json is missing or not a JSON object.
std::optional<RunEnd> ReadRunEnd(const std::string& run_dir);

}  // namespace driftrun
