// Runs driftrun-export (the ONNX exporter, its own executable: see
// export/onnx_export.h) for a checkpoint, and gathers a run's lineage for the
// ONNX metadata_props and the registry record.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace driftrun {

class Config;

struct ExportResult {
  std::string path;
  int64_t bytes = 0;
  std::string sha256;
  double seconds = 0;
};

// Spawns <folder of this executable>/driftrun-export; its error message and exit
// code come back as the Status.
// Status::Infra when driftrun-export is not beside this executable (a run
// would train and then fail to export).
Status CheckExporter();

Result<ExportResult> RunExporter(const std::string& checkpoint, const std::string& out,
                                 const std::map<std::string, std::string>& metadata);

// Lineage of a finished run folder: driftrun.name, run_id, config_hash,
// code_version, data_fingerprint (sha256 and rows of the training file), kind,
// task, seed, world_size.
Result<std::map<std::string, std::string>> RunLineage(const std::string& run_dir);

// Status::Data when a file the finished run read (summary.json data.files)
// is no longer the file at its path (replaced, or written since): its
// lineage, and an evaluation on its holdout rows, would name other bytes.
Status CheckRunDataUnchanged(const std::string& run_dir);

// Lineage of one checkpoint (export --checkpoint): the run's whole lineage
// when it is the checkpoint a finished run ended with; else driftrun.checkpoint
// (name and step), config_hash and world_size from its manifest, and, when it
// lies in a run folder's checkpoints/, the run's id and what its config says.
// Found by a stranger: an ONNX file exported this way had no lineage at all.
Result<std::map<std::string, std::string>> CheckpointLineage(const std::string& manifest);

// Whether a run of `cfg` ends in an ONNX export or a registration (which
// exports): export.onnx or registry.register.
bool NeedsExporter(const Config& cfg);

// Whether `path` is named *.onnx and starts as driftrun's serialized ONNX
// ModelProto does (ir_version, then producer_name "driftrun"): an earlier
// export that may be replaced.
bool LooksLikeOnnx(const std::string& path);

}  // namespace driftrun
