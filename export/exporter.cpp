#include "export/exporter.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>
#include <vector>

#include "common/config.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/version.h"
#include "dataio/h5_io.h"
#include "models/checkpoint.h"

extern char** environ;

namespace driftrun {

namespace {

std::string SelfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  return DirName(buf);
}

}  // namespace

Status CheckExporter() {
  const std::string exe = SelfDir() + "/driftrun-export";
  if (access(exe.c_str(), F_OK) != 0) {
    return Status::Infra("'" + exe + "' is missing; it is built beside driftrun (cmake --build build)");
  }
  if (access(exe.c_str(), X_OK) != 0) {
    return Status::Infra("'" + exe + "' is not executable (" + std::strerror(errno) + "); chmod +x it");
  }
  return Status::Ok();
}

Result<ExportResult> RunExporter(const std::string& checkpoint, const std::string& out,
                                 const std::map<std::string, std::string>& metadata) {
  DRIFTRUN_RETURN_IF_ERROR(CheckExporter());
  const std::string exe = SelfDir() + "/driftrun-export";
  std::vector<std::string> args = {exe, "--checkpoint",       checkpoint,  "--out",
                                   out, "--producer-version", kCodeVersion};
  for (const auto& [k, v] : metadata) {
    args.push_back("--meta");
    args.push_back(k + "=" + v);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pipefd[2];
  if (pipe(pipefd) != 0) return Status::Infra("cannot create a pipe for driftrun-export");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    return Status::Infra("cannot start '" + exe + "'");
  }
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof(buf))) > 0;) output.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return Status::Infra("driftrun-export was killed");
  const int code = WEXITSTATUS(status);
  if (code != 0) {
    const std::string msg = "ONNX export of '" + checkpoint + "' failed (message above)";
    if (code == 2) return Status::Usage(msg);
    if (code == 3) return Status::Data(msg);
    return Status::Infra(msg);
  }
  nlohmann::json j = nlohmann::json::parse(output, nullptr, false);
  if (j.is_discarded()) return Status::Infra("driftrun-export printed no result");
  ExportResult r;
  r.path = j.value("onnx", out);
  r.bytes = j.value("bytes", int64_t{0});
  r.sha256 = j.value("sha256", "");
  r.seconds = j.value("seconds", 0.0);
  return r;
}

bool NeedsExporter(const Config& cfg) {
  return cfg.Bool("export.onnx") || cfg.Bool("registry.register");
}

bool LooksLikeOnnx(const std::string& path) {
  // ModelProto field 1 (ir_version, one varint byte), then field 2
  // (producer_name) "driftrun": a model of someone else's is not replaced.
  static const std::string kProducer(
      "\x12\x08"
      "driftrun",
      10);
  const std::string h = FileHead(path, 12);
  return EndsWith(path, ".onnx") && h.size() == 12 && h[0] == 0x08 &&
         (static_cast<unsigned char>(h[1]) & 0x80) == 0 && h.compare(2, kProducer.size(), kProducer) == 0;
}

// How to finish a run folder: its own resolved config, resumed.
static std::string ResumeHint(const std::string& run_dir) {
  return "resume it to the end: driftrun train --config " + run_dir + "/config.resolved.toml --run-dir " +
         run_dir + " --resume auto";
}

// The summary is this folder's result: it says done, and its checkpoint is
// the folder's newest (a summary left by an older version of driftrun from
// before a resume that then failed would describe another model).
static Status CheckSummaryIsCurrent(const std::string& run_dir) {
  const std::optional<RunEnd> end = ReadRunEnd(run_dir);
  if (!end) return Status::Data("'" + run_dir + "/summary.json' is corrupt");
  if (end->status != "done") {
    return Status::Usage("run folder '" + run_dir + "' did not finish (summary.json status '" + end->status +
                         "'); " + ResumeHint(run_dir));
  }
  auto newest = RunCheckpoint(run_dir);
  if (end->checkpoint.empty() || !newest.ok())
    return Status::Ok();  // the caller reports a missing checkpoint
  if (!end->DoneAt(newest.value())) {
    return Status::Usage(
        "run folder '" + run_dir + "': summary.json describes checkpoint " + BaseName(end->checkpoint) +
        " but the newest checkpoint is " + BaseName(newest.value()) +
        ": the run was resumed after it finished and has not finished again; " + ResumeHint(run_dir));
  }
  return Status::Ok();
}

namespace {

// The run's identity: its folder name plus a digest of its first event (the
// start line, with time and pid), which a resume appends after and never
// rewrites; so two folders that happen to share a name are different runs.
std::string RunIdOf(const std::string& run_dir) {
  std::string run_id = BaseName(run_dir);
  auto events = ReadFile(run_dir + "/events.jsonl");
  if (events.ok() && !events.value().empty()) {
    run_id += "-" + Sha256Hex(events.value().substr(0, events.value().find('\n'))).substr(0, 8);
  }
  return run_id;
}

// What the run's config says: name, kind, task, seed, and the training data's
// fingerprint (one file: its sha256; several, a training window: the sha256
// of their sha256s, one per line in list order), with `rows` when known.
void ConfigLineage(const Config& cfg, int64_t rows, std::map<std::string, std::string>* m) {
  (*m)["driftrun.name"] = cfg.Str("name");
  (*m)["driftrun.kind"] = cfg.Str("model.kind");
  (*m)["driftrun.task"] = cfg.Str("model.task");
  (*m)["driftrun.seed"] = std::to_string(cfg.Int("train.seed"));
  const std::vector<std::string>& train = cfg.StrList("data.train");
  std::string sha, files, lines;
  for (const std::string& t : train) {
    auto one = Sha256File(t);
    if (!one.ok()) {
      sha = "unavailable";
      break;
    }
    sha = one.value();
    lines += one.value() + "\n";
  }
  if (train.size() > 1 && sha != "unavailable") sha = Sha256Hex(lines);
  for (const std::string& t : train) files += (files.empty() ? "" : ",") + t;
  (*m)["driftrun.data_fingerprint"] =
      (sha == "unavailable" || sha.empty() ? std::string("unavailable") : "sha256:" + sha) +
      (rows >= 0 ? " rows:" + std::to_string(rows) : std::string()) +
      (train.size() > 1 ? " files:" : " file:") + files;
}

// CheckRunDataUnchanged on the run's parsed summary.json `s`.
Status CheckDataFilesUnchanged(const nlohmann::json& s, const std::string& run_dir) {
  if (!s.is_object() || !s.contains("data") || !s["data"].is_object()) return Status::Ok();
  const nlohmann::json files = s["data"].value("files", nlohmann::json::array());
  if (!files.is_array()) return Status::Ok();
  for (const auto& f : files) {
    if (!f.is_object()) continue;
    const std::string path = f.value("path", ""), then = f.value("identity", "");
    if (path.empty() || then.empty() || FileIdentity(path) == then) continue;
    return Status::Data(
        "'" + path + "' is not the file run '" + run_dir +
        "' read: it was replaced or written since, so the run's holdout and lineage would name data it "
        "never read; a copy of the old bytes cannot be told from other data: train again on the "
        "data now at that path");
  }
  return Status::Ok();
}

}  // namespace

Status CheckRunDataUnchanged(const std::string& run_dir) {
  auto text = ReadFile(run_dir + "/summary.json");
  if (!text.ok()) return Status::Ok();  // the caller says the run did not finish
  return CheckDataFilesUnchanged(nlohmann::json::parse(text.value(), nullptr, false), run_dir);
}

Result<std::map<std::string, std::string>> RunLineage(const std::string& run_dir) {
  std::map<std::string, std::string> m;
  auto summary_text = ReadFile(run_dir + "/summary.json");
  if (!summary_text.ok()) {
    return Status::Usage("run folder '" + run_dir + "' has no summary.json: the run did not finish; " +
                         ResumeHint(run_dir));
  }
  nlohmann::json s = nlohmann::json::parse(summary_text.value(), nullptr, false);
  if (s.is_discarded() || !s.is_object()) return Status::Data("'" + run_dir + "/summary.json' is corrupt");
  DRIFTRUN_RETURN_IF_ERROR(CheckSummaryIsCurrent(run_dir));
  DRIFTRUN_RETURN_IF_ERROR(CheckDataFilesUnchanged(s, run_dir));
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(run_dir + "/config.resolved.toml", {}));
  m["driftrun.run_id"] = RunIdOf(run_dir);
  m["driftrun.config_hash"] = s.value("config_hash", "");
  m["driftrun.code_version"] = s.value("code_version", "");
  m["driftrun.world_size"] = std::to_string(s.value("world_size", 1));
  ConfigLineage(cfg, s.value("train_rows", int64_t{0}) + s.value("val_rows", int64_t{0}), &m);
  return m;
}

Result<std::map<std::string, std::string>> CheckpointLineage(const std::string& manifest) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::string text, ReadFile(manifest));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Data("checkpoint manifest '" + manifest + "' is not a JSON object");
  const std::string run_dir = DirName(DirName(AbsolutePath(manifest)));
  const bool in_run = BaseName(DirName(AbsolutePath(manifest))) == "checkpoints" &&
                      PathExists(run_dir + "/config.resolved.toml");
  const auto end = in_run ? ReadRunEnd(run_dir) : std::nullopt;
  if (end && end->DoneAt(manifest)) return RunLineage(run_dir);  // the run's result: its whole lineage
  std::map<std::string, std::string> m;
  m["driftrun.checkpoint"] =
      BaseName(manifest) + " (step " + std::to_string(j.value("step", int64_t{0})) + ")";
  m["driftrun.config_hash"] = j.value("config_hash", "");
  m["driftrun.world_size"] = std::to_string(j.value("world_size", int64_t{1}));
  m["driftrun.code_version"] = kCodeVersion;
  if (in_run) {
    DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(run_dir + "/config.resolved.toml", {}));
    m["driftrun.run_id"] = RunIdOf(run_dir);
    ConfigLineage(cfg, -1, &m);
  }
  return m;
}

}  // namespace driftrun
