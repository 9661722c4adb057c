#include "trainers/resume.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/file_util.h"
#include "common/text.h"
#include "models/checkpoint.h"

namespace driftrun {
std::string RunFolderTimeStamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

namespace {

// The checkpoint to resume from ("" for a fresh start); may set *run_dir.
Result<std::string> ResumeCheckpoint(const std::string& resume, const std::string& name, std::string* run_dir,
                                     std::vector<std::string>* warnings) {
  if (resume.empty()) return std::string();
  if (resume == "auto") {
    if (!run_dir->empty()) {
      const size_t before = warnings->size();
      std::string c = FindLatestCheckpoint(*run_dir + "/checkpoints", warnings);
      // A run without a checkpoint to continue from is not started over in
      // place: its metrics and events would mix with a new run's.
      if (c.empty() && IsRunFolder(*run_dir)) {
        std::string why = warnings->size() > before ? " (" + warnings->back() + ")" : "";
        warnings->resize(before);
        return Status::Data("--resume auto: run folder '" + *run_dir +
                            "' holds a run but no valid checkpoint" + why +
                            "; start it over with --overwrite (deletes it), restore a checkpoint, or "
                            "choose another --run-dir");
      }
      return c;
    }
    // Newest runs/<name>-* folder with a valid checkpoint.
    std::vector<std::string> dirs;
    for (const auto& n : ListDir("runs")) {
      if (IsRunFolderNameOf(n, name) && IsDir("runs/" + n)) dirs.push_back("runs/" + n);
    }
    std::sort(dirs.rbegin(), dirs.rend());
    for (const auto& d : dirs) {
      std::string c = FindLatestCheckpoint(d + "/checkpoints", warnings);
      if (!c.empty()) {
        *run_dir = d;
        return c;
      }
    }
    return std::string();
  }
  const std::string& p = resume;
  if (!PathExists(p) && EditDistance(p, "auto") <= 2) {
    return Status::Usage("--resume '" + p + "' is neither 'auto' nor an existing path (did you mean auto?)");
  }
  if (IsDir(p)) {
    const bool has_sub = IsDir(p + "/checkpoints");
    const std::string ck = has_sub ? p + "/checkpoints" : p;
    std::string c = FindLatestCheckpoint(ck, warnings);
    if (c.empty()) return Status::Data("--resume " + p + ": no valid checkpoint in '" + ck + "'");
    if (run_dir->empty()) *run_dir = has_sub ? p : DirName(p);
    return c;
  }
  std::string manifest = p;
  if (EndsWith(p, ".h5")) manifest = manifest.substr(0, manifest.size() - 3) + ".json";
  Status st = VerifyCheckpoint(manifest);
  if (!st.ok()) return st.WithContext("--resume " + p);
  if (run_dir->empty()) *run_dir = DirName(DirName(manifest));
  return manifest;
}

}  // namespace

namespace {

// What driftrun writes, not a file of the same name of the user's (found by a
// stranger: --overwrite deleted a checkpoints/ folder of theirs).
bool IsCheckpointName(const std::string& n) {
  return n.rfind("ckpt-", 0) == 0 && (EndsWith(n, ".json") || EndsWith(n, ".h5") || IsTempFileName(n));
}

bool FirstLineIsEvent(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return false;
  const std::string first = text.value().substr(0, text.value().find('\n'));
  const nlohmann::json j = nlohmann::json::parse(first, nullptr, false);
  return j.is_object() && j.contains("event");
}

// A run.lock of driftrun's (common/file_lock.h writes "host=... pid=..."),
// not a file of the user's of that name.
bool IsOwnLockFile(const std::string& path) {
  auto text = ReadFile(path);
  return !text.ok() || text.value().empty() || text.value().rfind("host=", 0) == 0;
}

}  // namespace

bool IsRunFolder(const std::string& dir) {
  if (FirstLineIsEvent(dir + "/events.jsonl")) return true;
  if (PathExists(dir + "/config.resolved.toml") && Config::Load(dir + "/config.resolved.toml", {}).ok())
    return true;
  for (const std::string& n : ListDir(dir + "/checkpoints"))
    if (IsCheckpointName(n)) return true;
  return false;
}

void RemoveRunFiles(const std::string& dir) {
  for (const char* f : {"config.resolved.toml", "events.jsonl", "metrics.jsonl", "summary.json", "model.onnx",
                        "reference-profile.h5", "report.html"}) {
    std::remove((dir + "/" + f).c_str());
  }
  // Only the checkpoints: a file of the user's there stays.
  const std::string ck = dir + "/checkpoints";
  for (const std::string& n : ListDir(ck))
    if (IsCheckpointName(n)) std::remove((ck + "/" + n).c_str());
  ::rmdir(ck.c_str());  // when empty
}

Status RemoveStaleResults(const std::string& run_dir, std::vector<std::string>* removed) {
  for (const char* f : {"summary.json", "model.onnx"}) {
    const std::string path = run_dir + "/" + f;
    if (std::remove(path.c_str()) == 0) {
      removed->push_back(f);
    } else if (errno != ENOENT) {
      return Status::Infra("cannot remove '" + path + "' (" + std::strerror(errno) +
                           "), left from the run's earlier end; remove it, then resume");
    }
  }
  return Status::Ok();
}

bool IsRunFolderNameOf(const std::string& n, const std::string& name) {
  if (n.size() < name.size() + 16 || n.compare(0, name.size() + 1, name + "-") != 0) return false;
  const std::string t = n.substr(name.size() + 1);  // YYYYmmdd-HHMMSS[-k]
  auto digits = [&](size_t from, size_t count) {
    for (size_t i = from; i < from + count; ++i)
      if (i >= t.size() || !std::isdigit(static_cast<unsigned char>(t[i]))) return false;
    return true;
  };
  if (!digits(0, 8) || t[8] != '-' || !digits(9, 6)) return false;
  if (t.size() == 15) return true;
  return t[15] == '-' && t.size() > 16 && digits(16, t.size() - 16);
}

Status CheckNoForeignFiles(const std::string& dir) {
  if (dir.empty() || !IsDir(dir) || IsRunFolder(dir)) return Status::Ok();
  std::vector<std::string> theirs;
  for (const std::string& n : ListDir(dir)) {
    // What `driftrun submit`, a sweep or a claim puts there before the run.
    if (n.empty() || n[0] == '.' || n == "slurm" || IsTempFileName(n)) continue;
    if (n == "run.lock" && IsOwnLockFile(dir + "/" + n)) continue;
    theirs.push_back(n);
  }
  if (theirs.empty()) return Status::Ok();
  std::sort(theirs.begin(), theirs.end());
  const size_t shown = std::min<size_t>(theirs.size(), 5);
  std::string list;
  for (size_t i = 0; i < shown; ++i) list += (i ? ", " : "") + theirs[i];
  if (theirs.size() > shown) list += ", and " + std::to_string(theirs.size() - shown) + " more";
  return Status::Usage("--run-dir '" + dir + "' holds no run but is not empty (" + list +
                       "): a run writes config.resolved.toml, events.jsonl, metrics.jsonl, summary.json, "
                       "model.onnx, report.html and checkpoints/ there, over or beside these; name a new or "
                       "empty folder");
}

Status ResolveRunFolder(const std::string& run_dir, const std::string& resume, const std::string& name,
                        bool overwrite, RunFolderChoice* out) {
  RunFolderChoice& c = *out;
  c.run_dir = run_dir;
  DRIFTRUN_RETURN_IF_ERROR(CheckNoForeignFiles(run_dir));
  if (!resume.empty() && overwrite) {
    return Status::Usage(
        "--overwrite deletes the run in --run-dir and --resume continues it: pass one of them");
  }
  if (resume.empty() && !run_dir.empty() && IsRunFolder(run_dir)) {
    if (!overwrite) {
      return Status::Usage("--run-dir '" + run_dir +
                           "' already holds a run; continue it with --resume auto, start it over with "
                           "--overwrite (deletes it), or choose another --run-dir");
    }
    c.overwrite = true;
  }
  DRIFTRUN_ASSIGN_OR_RETURN(c.checkpoint, ResumeCheckpoint(resume, name, &c.run_dir, &c.warnings));
  return Status::Ok();
}

Result<std::string> NewRunFolder(const std::string& name) {
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs("runs"));
  const std::string base = "runs/" + name + "-" + RunFolderTimeStamp();
  for (int k = 1; k < 10000; ++k) {
    const std::string d = k == 1 ? base : base + "-" + std::to_string(k);
    if (::mkdir(d.c_str(), 0755) == 0) return d;
    if (errno != EEXIST)
      return Status::Infra("cannot create run folder '" + d + "': " + std::strerror(errno));
  }
  return Status::Infra("cannot find a free run folder name for '" + base + "'");
}

namespace {

// Temporary files of writers killed mid-write (kill -9), and checkpoint data
// whose manifest was never written (killed between the two): nothing reads
// them, and pruning (checkpoint.keep) counts manifests only.
void RemoveLeftoverTemps(const std::string& run_dir) {
  const std::string ckpts = run_dir + "/checkpoints";
  for (const std::string& d : {run_dir, ckpts}) {
    for (const auto& n : ListDir(d)) {
      const bool orphan = d == ckpts && n.rfind("ckpt-", 0) == 0 && n.size() > 3 &&
                          n.compare(n.size() - 3, 3, ".h5") == 0 &&
                          !PathExists(d + "/" + n.substr(0, n.size() - 3) + ".json");
      if (IsTempFileName(n) || orphan) std::remove((d + "/" + n).c_str());
    }
  }
}

}  // namespace

RunFolderClaim::~RunFolderClaim() {
  if (committed) return;
  lock.Release();
  if (created) ::rmdir(run_dir.c_str());  // only while still empty
}

Status ClaimRunFolder(const std::string& run_dir, const std::string& resume, const std::string& name,
                      bool overwrite, RunFolderChoice* out, RunFolderClaim* claim) {
  if (!run_dir.empty() && PathExists(run_dir) && !IsDir(run_dir)) {
    return Status::Usage("--run-dir '" + run_dir +
                         "' is a file, not a folder; name a new or existing run folder (a training file "
                         "goes in data.train)");
  }
  if (!resume.empty() && overwrite) return ResolveRunFolder(run_dir, resume, name, overwrite, out);
  // Before the lock is taken: a run.lock of the user's is theirs (found by a stranger).
  if (!run_dir.empty() && IsDir(run_dir)) DRIFTRUN_RETURN_IF_ERROR(CheckNoForeignFiles(run_dir));
  std::string dir = run_dir;
  if (dir.empty()) {
    DRIFTRUN_RETURN_IF_ERROR(ResolveRunFolder("", resume, name, overwrite, out));
    dir = out->run_dir;
    if (dir.empty()) {
      DRIFTRUN_ASSIGN_OR_RETURN(dir, NewRunFolder(name));
    }
    claim->created = out->run_dir.empty();
  } else if (!IsDir(dir)) {
    DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
    claim->created = true;
  }
  claim->run_dir = dir;
  std::string warning;
  DRIFTRUN_ASSIGN_OR_RETURN(claim->lock,
                            FileLock::Acquire(dir + "/run.lock", "run folder '" + dir + "'", &warning));
  // Decided again under the lock: nobody changes the folder from here on.
  *out = RunFolderChoice();
  DRIFTRUN_RETURN_IF_ERROR(ResolveRunFolder(dir, resume, name, overwrite, out));
  if (!warning.empty()) out->warnings.insert(out->warnings.begin(), warning);
  RemoveLeftoverTemps(dir);
  return Status::Ok();
}

}  // namespace driftrun
