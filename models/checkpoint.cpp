#include "models/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/sha256.h"
#include "dataio/h5_io.h"

namespace driftrun {
namespace {

constexpr const char* kFormat = "driftrun-checkpoint-1";

std::string StepName(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "ckpt-%09lld", static_cast<long long>(step));
  return buf;
}

std::string RunIdOf(const nlohmann::json& m) {
  return m.is_object() && m.contains("run_id") && m["run_id"].is_string() ? m["run_id"].get<std::string>()
                                                                          : "";
}

struct ManifestEntry {
  std::string path;
  nlohmann::json m;  // discarded when it does not parse
  // Fields of the wrong type (a hand-edited manifest) read as absent, never throw.
  int64_t serial() const {
    if (!m.is_object()) return -1;
    return m.contains("serial") && m["serial"].is_number_integer() ? m["serial"].get<int64_t>() : 0;
  }
  std::string run_id() const { return RunIdOf(m); }
};

// Checkpoint manifests in `dir`, newest first: by write serial (a folder-wide
// counter), then by step for manifests written before serials existed.
std::vector<ManifestEntry> Manifests(const std::string& dir) {
  std::vector<ManifestEntry> out;
  for (const auto& n : ListDir(dir)) {
    if (n.rfind("ckpt-", 0) != 0 || !EndsWith(n, ".json")) continue;
    ManifestEntry e{dir + "/" + n, nlohmann::json()};
    auto text = ReadFile(e.path);
    if (text.ok()) e.m = nlohmann::json::parse(text.value(), nullptr, false);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const ManifestEntry& a, const ManifestEntry& b) {
    return a.serial() != b.serial() ? a.serial() > b.serial() : a.path > b.path;
  });
  return out;
}

// The manifest's data file name, which must name a file beside it.
Result<std::string> DataFileOf(const nlohmann::json& m, const std::string& manifest_path) {
  if (m.is_discarded() || !m.is_object() || !m.contains("format") || m["format"] != kFormat ||
      !m.contains("sha256") || !m["sha256"].is_string() || !m.contains("file") || !m["file"].is_string()) {
    return Status::Data("checkpoint manifest '" + manifest_path + "' is corrupt");
  }
  const std::string f = m["file"].get<std::string>();
  if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos) {
    return Status::Data("checkpoint manifest '" + manifest_path + "' names '" + f +
                        "' as its data: a manifest may only name a file in its own folder");
  }
  return DirName(manifest_path) + "/" + f;
}

// Reads `data` once; the bytes are checked against `sha256` (when non-empty)
// and are the bytes then parsed, so what was verified is what is loaded.
Result<std::string> ReadVerified(const std::string& data, const std::string& sha256, const char* against) {
  // Read whole (so the bytes hashed are the bytes parsed), within the HDF5 read limit.
  auto bytes = ReadFile(data, H5ReadLimitBytes());
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kData) return bytes.status().WithContext("checkpoint data");
    return Status::Data("checkpoint data '" + data + "' is missing");
  }
  if (!sha256.empty() && Sha256Hex(bytes.value()) != sha256) {
    return Status::Data("checkpoint '" + data + "' does not match its " + against +
                        " sha256 (corrupt or truncated)");
  }
  return bytes;
}

Result<CheckpointState> ParseCheckpoint(const H5Reader& r);

// The epoch as files record it: 1-based, the epoch the checkpoint was written
// in, or at the end of (next_batch 0; 0 before any training).
int64_t FileEpoch(const CheckpointState& s) {
  return s.next_batch > 0 ? s.epoch + 1 : s.epoch;
}

Status WriteArrays(H5Writer& w, const std::string& group, const std::vector<NamedArray>& arrays) {
  for (const auto& a : arrays) {
    DRIFTRUN_RETURN_IF_ERROR(w.Write(group + "/" + a.name, a.dims, a.data.data()));
  }
  return Status::Ok();
}

// Arrays sit at most two groups down (/optim/<param>/<slot>); a deeper nesting,
// or a group linking back to an ancestor (a cycle), is a damaged checkpoint.
constexpr int kMaxArrayDepth = 4;

Result<std::vector<NamedArray>> ReadArrays(const H5Reader& r, const std::string& group, int depth = 0) {
  std::vector<NamedArray> out;
  if (depth > kMaxArrayDepth) {
    return Status::Data("checkpoint '" + r.path() + "' nests groups too deep at '" + group + "' (damaged)");
  }
  if (!r.Has(group)) return out;
  DRIFTRUN_ASSIGN_OR_RETURN(auto names, r.List(group));
  for (const auto& n : names) {
    std::string path = group + "/" + n;
    auto info_or = r.Info(path);
    if (!info_or.ok()) {
      // a sub-group (optimizer slots are /optim/<param>/<slot>)
      DRIFTRUN_ASSIGN_OR_RETURN(auto sub, ReadArrays(r, path, depth + 1));
      for (auto& a : sub) {
        a.name = n + "/" + a.name;
        out.push_back(std::move(a));
      }
      continue;
    }
    const H5DatasetInfo& info = info_or.value();
    NamedArray a;
    a.name = n;
    a.dims = info.dims;
    DRIFTRUN_RETURN_IF_ERROR(r.ReadRange(path, 0, info.rows(), &a.data));
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

namespace {

// Run `run_id`'s readable manifests in `dir`, newest first.
std::vector<ManifestEntry> RunManifests(const std::string& dir, const std::string& run_id) {
  std::vector<ManifestEntry> v;
  for (auto& e : Manifests(dir))
    if (e.run_id() == run_id && !e.m.is_discarded()) v.push_back(std::move(e));
  return v;
}

// The manifest with the lowest recorded train_loss ("" when none records one);
// the newest among equals.
std::string LowestLoss(const std::vector<ManifestEntry>& entries) {
  std::string best;
  double best_loss = INFINITY;
  for (const auto& e : entries) {
    const auto it = e.m.find("train_loss");
    if (it != e.m.end() && it->is_number() && it->get<double>() < best_loss) {
      best_loss = it->get<double>();
      best = e.path;
    }
  }
  return best;
}

}  // namespace

std::string LowestLossCheckpoint(const std::string& dir, const std::string& run_id) {
  return LowestLoss(RunManifests(dir, run_id));
}

Result<std::string> WriteCheckpoint(const std::string& dir, const CheckpointState& s, int keep) {
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
  const std::string base = dir + "/" + StepName(s.step);
  const int64_t epoch1 = FileEpoch(s);
  const std::string data_path = base + ".h5";
  {
    DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(data_path));
    DRIFTRUN_RETURN_IF_ERROR(WriteArrays(*w, "/model", s.model));
    DRIFTRUN_RETURN_IF_ERROR(WriteArrays(*w, "/optim", s.optim));
    DRIFTRUN_RETURN_IF_ERROR(WritePreprocessor(*w, "/preprocess", s.pre));
    for (auto [k, v] :
         std::vector<std::pair<const char*, double>>{{"step", s.step},
                                                     {"epoch", epoch1},
                                                     {"epoch_base", 1},
                                                     {"next_batch", s.next_batch},
                                                     {"world_size", s.world_size},
                                                     {"classes", s.classes},
                                                     {"in_dim", s.in_dim},
                                                     {"out_dim", s.out_dim},
                                                     {"epoch_loss_sum", s.epoch_loss_sum},
                                                     {"epoch_loss_steps", s.epoch_loss_steps},
                                                     {"samples_seen", s.samples_seen},
                                                     {"stream_chunk_rows", s.stream_chunk_rows},
                                                     {"stream_window_chunks", s.stream_window_chunks},
                                                     {"train_rows", s.train_rows}}) {
      DRIFTRUN_RETURN_IF_ERROR(w->AttrDouble("/", k, v));
    }
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "config_hash", s.config_hash));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "train_sample", s.train_sample));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "task", s.task));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "model_spec", s.model_spec));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "format", kFormat));
    DRIFTRUN_RETURN_IF_ERROR(w->Commit());
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::string sha, Sha256File(data_path));
  auto existing = Manifests(dir);
  const int64_t serial = existing.empty() ? 1 : std::max<int64_t>(0, existing.front().serial()) + 1;
  nlohmann::json m = {
      {"format", kFormat},
      {"run_id", s.run_id},
      {"serial", serial},
      {"file", BaseName(data_path)},
      {"sha256", sha},
      {"bytes", FileSize(data_path)},
      {"step", s.step},
      {"epoch", epoch1},
      {"next_batch", s.next_batch},
      {"world_size", s.world_size},
      {"config_hash", s.config_hash},
      {"train_loss", std::isfinite(s.train_loss) ? nlohmann::json(s.train_loss) : nlohmann::json()},
      {"created_unix", static_cast<int64_t>(std::time(nullptr))}};
  const std::string manifest = base + ".json";
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(manifest, m.dump(2) + "\n"));

  // Prune: the newest `keep` of this run stay (the one just written first),
  // and the one with the lowest training loss; other runs' and unreadable
  // checkpoints are not ours to delete. Manifest first, so no reader sees a
  // manifest without its data.
  const std::vector<ManifestEntry> ours = RunManifests(dir, s.run_id);
  const std::string best = LowestLoss(ours);
  int kept = 0;
  for (const auto& e : ours) {
    if (++kept <= std::max(keep, 1) || e.path == best) continue;
    auto data = DataFileOf(e.m, e.path);
    std::remove(e.path.c_str());
    if (data.ok()) std::remove(data.value().c_str());
  }
  return manifest;
}

Status VerifyCheckpoint(const std::string& manifest_path) {
  auto text = ReadFile(manifest_path);
  if (!text.ok()) return Status::Data("checkpoint manifest '" + manifest_path + "' cannot be read");
  nlohmann::json m = nlohmann::json::parse(text.value(), nullptr, false);
  DRIFTRUN_ASSIGN_OR_RETURN(std::string data, DataFileOf(m, manifest_path));
  return ReadVerified(data, m["sha256"].get<std::string>(), "manifest's").status();
}

Result<CheckpointState> ReadCheckpoint(const std::string& path) {
  std::string manifest = path;
  if (EndsWith(path, ".h5")) manifest = path.substr(0, path.size() - 3) + ".json";
  auto text = ReadFile(manifest);
  if (!text.ok()) return Status::Data("checkpoint manifest '" + manifest + "' cannot be read");
  nlohmann::json m = nlohmann::json::parse(text.value(), nullptr, false);
  DRIFTRUN_ASSIGN_OR_RETURN(std::string data, DataFileOf(m, manifest));
  DRIFTRUN_ASSIGN_OR_RETURN(std::string bytes,
                            ReadVerified(data, m["sha256"].get<std::string>(), "manifest's"));
  DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::OpenImage(bytes, data));
  DRIFTRUN_ASSIGN_OR_RETURN(CheckpointState s, ParseCheckpoint(*r));
  s.run_id = RunIdOf(m);
  return s;
}

Result<CheckpointState> ReadCheckpointData(const std::string& data, const std::string& sha256) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::string bytes, ReadVerified(data, sha256, "recorded"));
  DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::OpenImage(bytes, data));
  return ParseCheckpoint(*r);
}

namespace {

// A root attribute that must hold a whole number in [0, 2^53]: a missing one,
// NaN, a fraction or a huge value is a damaged checkpoint (Status::Data), not a
// silent 0 or an undefined cast.
Result<int64_t> CountAttr(const H5Reader& r, const char* k, bool required) {
  auto v = r.AttrDouble("/", k);
  if (!v.ok()) {
    if (!required) return int64_t{0};
    return Status::Data("checkpoint '" + r.path() + "' has no attribute '" + k +
                        "' (damaged or not a checkpoint)");
  }
  const double d = v.value();
  if (!(d >= 0 && d <= 9007199254740992.0) || d != std::floor(d)) {
    return Status::Data("checkpoint '" + r.path() + "' attribute '" + k + "' is not a count (damaged)");
  }
  return static_cast<int64_t>(d);
}

// A root attribute that must hold a finite number: missing or NaN is damage,
// never a silent 0 (every checkpoint driftrun writes has it).
Result<double> RealAttr(const H5Reader& r, const char* k) {
  auto v = r.AttrDouble("/", k);
  if (!v.ok() || !std::isfinite(v.value())) {
    return Status::Data("checkpoint '" + r.path() + "' attribute '" + k + "' is " +
                        (v.ok() ? "not a finite number" : "missing") + " (damaged or not a checkpoint)");
  }
  return v.value();
}

Result<CheckpointState> ParseCheckpoint(const H5Reader& r) {
  CheckpointState s;
  DRIFTRUN_ASSIGN_OR_RETURN(s.step, CountAttr(r, "step", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.epoch, CountAttr(r, "epoch", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.next_batch, CountAttr(r, "next_batch", true));
  DRIFTRUN_ASSIGN_OR_RETURN(const int64_t epoch_base, CountAttr(r, "epoch_base", false));
  // Files say the 1-based epoch the checkpoint is in (or ended: next_batch 0);
  // those written before that (no epoch_base) said the 0-based one to continue in.
  if (epoch_base == 1 && s.next_batch > 0 && s.epoch > 0) s.epoch -= 1;
  DRIFTRUN_ASSIGN_OR_RETURN(s.world_size, CountAttr(r, "world_size", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.classes, CountAttr(r, "classes", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.in_dim, CountAttr(r, "in_dim", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.out_dim, CountAttr(r, "out_dim", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.epoch_loss_steps, CountAttr(r, "epoch_loss_steps", true));
  DRIFTRUN_ASSIGN_OR_RETURN(s.epoch_loss_sum, RealAttr(r, "epoch_loss_sum"));
  DRIFTRUN_ASSIGN_OR_RETURN(s.samples_seen, RealAttr(r, "samples_seen"));
  // Written since streaming exists; older checkpoints held their data in memory.
  DRIFTRUN_ASSIGN_OR_RETURN(s.stream_chunk_rows, CountAttr(r, "stream_chunk_rows", false));
  DRIFTRUN_ASSIGN_OR_RETURN(s.stream_window_chunks, CountAttr(r, "stream_window_chunks", false));
  DRIFTRUN_ASSIGN_OR_RETURN(s.train_rows, CountAttr(r, "train_rows", false));
  DRIFTRUN_ASSIGN_OR_RETURN(s.config_hash, r.AttrString("/", "config_hash"));
  auto sample = r.AttrString("/", "train_sample");  // written since 2026-11-28
  if (sample.ok()) s.train_sample = sample.value();
  DRIFTRUN_ASSIGN_OR_RETURN(s.task, r.AttrString("/", "task"));
  // Checkpoints written before model descriptions existed have none: they still
  // resume (training builds the model from its config) but cannot be exported.
  auto spec = r.AttrString("/", "model_spec");
  if (spec.ok()) s.model_spec = spec.value();
  DRIFTRUN_ASSIGN_OR_RETURN(s.model, ReadArrays(r, "/model"));
  DRIFTRUN_ASSIGN_OR_RETURN(s.optim, ReadArrays(r, "/optim"));
  DRIFTRUN_ASSIGN_OR_RETURN(s.pre, ReadPreprocessor(r, "/preprocess", s.in_dim));
  return s;
}

}  // namespace

std::string FindLatestCheckpoint(const std::string& dir, std::vector<std::string>* warnings) {
  for (const auto& e : Manifests(dir)) {
    Status st = VerifyCheckpoint(e.path);
    if (st.ok()) return e.path;
    if (warnings) warnings->push_back("skipping an invalid checkpoint: " + st.message());
  }
  return "";
}

Result<std::string> RunCheckpoint(const std::string& run_dir) {
  if (!IsDir(run_dir)) {
    return Status::Usage(PathExists(run_dir)
                             ? "'" + run_dir +
                                   "' is a file, not a run folder: give the folder a run wrote "
                                   "(runs/<name>-<time>)"
                             : "run folder '" + run_dir + "' does not exist");
  }
  std::vector<std::string> warnings;
  std::string c = FindLatestCheckpoint(run_dir + "/checkpoints", &warnings);
  if (c.empty()) {
    return Status::Data("run folder '" + run_dir + "' has no valid checkpoint" +
                        (warnings.empty() ? std::string() : " (" + warnings.front() + ")"));
  }
  // Never fall back silently: the run's newest checkpoint is what it produced.
  if (!warnings.empty()) {
    return Status::Data("the newest checkpoint of run folder '" + run_dir + "' is invalid (" +
                        warnings.front() + "); restore it, or name an older one: `--checkpoint " + c +
                        "` (export and predict take it)");
  }
  return c;
}

bool RunEnd::DoneAt(const std::string& manifest) const {
  return status == "done" && !checkpoint.empty() && BaseName(checkpoint) == BaseName(manifest);
}

std::optional<RunEnd> ReadRunEnd(const std::string& run_dir) {
  auto text = ReadFile(run_dir + "/summary.json");
  if (!text.ok()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(text.value(), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  RunEnd e;
  const auto field = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  e.status = field("status");
  e.checkpoint = field("checkpoint");
  return e;
}

}  // namespace driftrun
