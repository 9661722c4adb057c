// Which run folder a training run writes, and which checkpoint it continues
// from. Decided on rank 0 before any rank trains; no LibTorch.
//
//   resume ""      a fresh run: requested run_dir, else (ClaimRunFolder) a new
//                  runs/<name>-<YYYYmmdd-HHMMSS>[-k] folder. A requested run_dir that
//                  already holds a run is refused (Status::Usage) unless
//                  `overwrite` (then out->overwrite: the caller deletes it first)
//   resume "auto"  the newest valid checkpoint of run_dir, or without run_dir of
//                  the newest runs/<name>-<YYYYmmdd-HHMMSS>[-k] folder (exactly
//                  this name, never a prefix) that has one; none: fresh
//   resume PATH    a run folder, a checkpoints/ folder, or a checkpoint (.json
//                  manifest or .h5); run_dir defaults to the folder it is in
// --resume with --overwrite is refused (they contradict each other).
//
// ClaimRunFolder decides, creates and locks (run.lock, common/file_lock.h) the
// folder: a second train on it exits 2 naming the holder, and two runs started
// in the same second get two folders.
#pragma once

#include <string>
#include <vector>

#include "common/file_lock.h"
#include "common/status.h"

namespace driftrun {

struct RunFolderChoice {
  std::string run_dir;
  bool overwrite = false;             // run_dir holds an earlier run to delete before starting
  std::string checkpoint;             // manifest to resume from; "": fresh start
  std::vector<std::string> warnings;  // corrupt checkpoints skipped
};

// Status::Usage when an explicit PATH holds no valid checkpoint; out->warnings
// are filled either way.
Status ResolveRunFolder(const std::string& run_dir, const std::string& resume, const std::string& name,
                        bool overwrite, RunFolderChoice* out);

// A locked run folder. Until `committed` (the run has started writing into it),
// destroying it releases the lock and removes the folder if this process
// created it and it is still empty, so a refused start leaves nothing behind.
struct RunFolderClaim {
  FileLock lock;
  std::string run_dir;
  bool created = false;
  bool committed = false;
  RunFolderClaim() = default;
  RunFolderClaim(const RunFolderClaim&) = delete;
  RunFolderClaim& operator=(const RunFolderClaim&) = delete;
  ~RunFolderClaim();
};

// ResolveRunFolder, then create the folder (a fresh default name is claimed
// with mkdir), lock it and decide again under the lock; removes temporary files
// left by a writer that was killed. out->warnings name a stale lock taken over.
Status ClaimRunFolder(const std::string& run_dir, const std::string& resume, const std::string& name,
                      bool overwrite, RunFolderChoice* out, RunFolderClaim* claim);

// Status::Usage when `dir` exists, holds no run and is not empty (a page or
// data of the user's, the working folder): a run would write over or beside
// those files. What submit or a sweep prepares (slurm/), a lock and hidden
// files do not count.
Status CheckNoForeignFiles(const std::string& dir);
// Whether `dir` holds (part of) a run: an events.jsonl of driftrun's events, a
// config.resolved.toml that is a config, or a checkpoint (checkpoints/ckpt-*);
// files of the user's under those names do not count.
bool IsRunFolder(const std::string& dir);
// "YYYYmmdd-HHMMSS", local time: the <time> of runs/<name>-<time>.
std::string RunFolderTimeStamp();
// Creates a fresh runs/<name>-<time>[-k] folder; mkdir is the claim, so two
// runs started in the same second get two folders.
Result<std::string> NewRunFolder(const std::string& name);
// Deletes what a run writes into `dir` (config.resolved.toml, events.jsonl,
// metrics.jsonl, summary.json, model.onnx, report.html, the checkpoints, ...)
// and nothing else: other files a user keeps there, in checkpoints/ too, stay
// (train --overwrite).
void RemoveRunFiles(const std::string& dir);
// Deletes summary.json and model.onnx, the results of a run's earlier end,
// before a resume trains on: until it finishes, the folder has no result.
// The names removed are appended to *removed.
Status RemoveStaleResults(const std::string& run_dir, std::vector<std::string>* removed);
// Whether folder name `n` is "<name>-<YYYYmmdd-HHMMSS>" or that plus "-<k>".
bool IsRunFolderNameOf(const std::string& n, const std::string& name);

}  // namespace driftrun
