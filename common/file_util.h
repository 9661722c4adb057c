// Filesystem helpers with the atomicity driftrun promises: nothing half-written.
//
// WriteFileAtomic writes to "<path>.tmp.<pid>", fsyncs it, renames it over
// `path` and fsyncs the directory, so a reader sees the old file or the whole new
// one, never a prefix. A full disk or a missing folder is a Status::Infra naming
// the path and what to do; the temporary file is removed on failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

Status WriteFileAtomic(const std::string& path, const std::string& bytes);
// Makes the temporary file `tmp` durable and renames it to `path` (both in one
// folder). Used by writers that produce the temp file themselves (HDF5).
Status CommitFileAtomic(const std::string& tmp, const std::string& path);
// `to` as a second name of `from` (a hard link: no bytes copied, and a file
// later renamed over `from` leaves it as it was), or, across file systems
// or where links are refused, an atomic copy. An existing `to` is left alone.
Status LinkOrCopyFile(const std::string& from, const std::string& to);

// Process set-up shared by driftrun's executables: SIGXFSZ is ignored, so that a
// write past RLIMIT_FSIZE fails with EFBIG (an exit-5 message, temporary file
// removed) instead of killing the process with a core dump. Test hook: with
// DRIFTRUN_FAULT_KILL_BEFORE_COMMIT=TEXT set, the process SIGKILLs itself just
// before CommitFileAtomic renames a file whose path contains TEXT (a crash in
// the middle of a checkpoint or export; tests/integration/test_bad_input.py).
void InitProcessForFiles();
// Removes "<path>.tmp.<pid>" files whose writer process is gone (killed in the
// middle of a write): every atomic writer calls it before it starts.
void RemoveStaleTemps(const std::string& path);
Status FsyncPath(const std::string& path);
Status MakeDirs(const std::string& path);
// Reads a whole file. More than `max_bytes` (checked against its size first,
// then while reading, so /dev/zero or a growing file cannot exhaust memory) is
// Status::Data naming the path and both sizes. The default suits text files
// (configs, manifests, summaries, event logs); binary artifacts pass a limit.
constexpr int64_t kReadFileLimitBytes = int64_t{256} << 20;
Result<std::string> ReadFile(const std::string& path, int64_t max_bytes = kReadFileLimitBytes);
bool PathExists(const std::string& path);
// Appends one line (a '\n' is added) and flushes; for events.jsonl and metrics.jsonl.
Status AppendLine(const std::string& path, const std::string& line);
// POSIX helpers used instead of std::filesystem: libtorch.so exports its own
// copy of std::filesystem's functions, which would interpose on ours
// ([std::filesystem and libtorch]).
// Names (not paths) of the entries of `dir`, sorted; empty when it cannot be read.
std::vector<std::string> ListDir(const std::string& dir);
bool IsDir(const std::string& path);
// Size in bytes, or -1 when the file cannot be stat'ed.
int64_t FileSize(const std::string& path);
// "inode:size:mtime_ns" of the file at `path` ("" when it cannot be stat'ed):
// another value means the file was replaced or written since.
std::string FileIdentity(const std::string& path);
// That form from stat fields (H5Reader::Identity gives it for the file opened).
std::string FormatFileIdentity(uint64_t ino, int64_t size, int64_t mtime_ns);
// Removes a file or a whole folder tree; missing paths are fine.
void RemoveTree(const std::string& path);
// "a/b/c.h5" -> "a/b" ("." when there is no folder part); "a/b/" -> "a".
std::string DirName(const std::string& path);
// "a/b/c.h5" -> "c.h5".
std::string BaseName(const std::string& path);
bool EndsWith(const std::string& s, const std::string& suffix);
// True when `a` and `b` name the same file: the same device and inode when both
// exist, else the same absolute path after resolving the folders that exist
// (so "x.h5", "./x.h5" and "/abs/x.h5" agree, as do hard and symbolic links).
bool SameFile(const std::string& a, const std::string& b);
// Status::Usage (exit 2) when output `out` is one of `inputs`: writing it would
// destroy the input. `flag` names the output flag in the message.
Status CheckNotInput(const std::string& out, const std::vector<std::string>& inputs, const std::string& flag);
// Where a command may write its output file `path` (`flag` names it in
// messages): Status::Usage when `path` is empty or a folder, when its folder
// does not exist, when it exists and is not a regular file (a device, a pipe,
// a symbolic link: never opened), or when it is not empty and `earlier(path)` says it
// is not an earlier output of this kind (`what`, e.g. "a predictions file"):
// a data file, a checkpoint or a config there would be destroyed.
Status CheckOutputPath(const std::string& path, const std::string& flag, const std::string& what,
                       const std::function<bool(const std::string&)>& earlier);
// The first `n` bytes of `path` (fewer when it is shorter; empty when it
// cannot be read).
std::string FileHead(const std::string& path, size_t n);
// Whether `path` is an HDF5 file: its signature at 0, 512, 1024 or 2048.
bool LooksLikeHdf5(const std::string& path);

// `p` made absolute against folder `base` (itself made absolute against the
// working directory), with "." and ".." segments removed lexically (symbolic
// links are kept as written). An absolute `p` is only normalized; "" stays "".
std::string AbsolutePath(const std::string& p, const std::string& base = ".");

// `a` as one word for a POSIX shell: unchanged when it has only safe
// characters, else in single quotes.
std::string ShellQuote(const std::string& a);

// "<path>.tmp.<pid>": the name every atomic writer uses for its temporary file.
std::string TempPathFor(const std::string& path);

// True for a file name made by TempPathFor (a writer's temporary file).
bool IsTempFileName(const std::string& name);

}  // namespace driftrun
