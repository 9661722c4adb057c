// Filesystem helpers with the atomicity driftrun promises: nothing half-written.
//
// WriteFileAtomic writes to "<path>.tmp.<pid>", fsyncs it, renames it over
// `path` and fsyncs the directory, so a reader sees the old file or the whole new
// one, never a prefix. A full disk or a missing folder is a Status::Infra naming
// the path and what to do; the temporary file is removed on failure.
#pragma once

#include <string>

#include "common/status.h"

namespace driftrun {

Status WriteFileAtomic(const std::string& path, const std::string& bytes);
// Makes the temporary file `tmp` durable and renames it to `path` (both in one
// folder). Used by writers that produce the temp file themselves (HDF5).
Status CommitFileAtomic(const std::string& tmp, const std::string& path);
Status FsyncPath(const std::string& path);
Status MakeDirs(const std::string& path);
Result<std::string> ReadFile(const std::string& path);
bool PathExists(const std::string& path);
// Appends one line (a '\n' is added) and flushes; for events.jsonl and metrics.jsonl.
Status AppendLine(const std::string& path, const std::string& line);
// "<path>.tmp.<pid>": the name every atomic writer uses for its temporary file.
std::string TempPathFor(const std::string& path);

}  // namespace driftrun
