#include "models/checkpoint.h"

#include <algorithm>
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

// Checkpoint manifests in `dir`, newest step first.
std::vector<std::string> Manifests(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& n : ListDir(dir)) {
    if (n.rfind("ckpt-", 0) == 0 && EndsWith(n, ".json")) out.push_back(dir + "/" + n);
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

Status WriteArrays(H5Writer& w, const std::string& group, const std::vector<NamedArray>& arrays) {
  for (const auto& a : arrays) {
    DRIFTRUN_RETURN_IF_ERROR(w.Write(group + "/" + a.name, a.dims, a.data.data()));
  }
  return Status::Ok();
}

Result<std::vector<NamedArray>> ReadArrays(const H5Reader& r, const std::string& group) {
  std::vector<NamedArray> out;
  if (!r.Has(group)) return out;
  DRIFTRUN_ASSIGN_OR_RETURN(auto names, r.List(group));
  for (const auto& n : names) {
    std::string path = group + "/" + n;
    auto info_or = r.Info(path);
    if (!info_or.ok()) {
      // a sub-group (optimizer slots are /optim/<param>/<slot>)
      DRIFTRUN_ASSIGN_OR_RETURN(auto sub, ReadArrays(r, path));
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

Result<std::string> WriteCheckpoint(const std::string& dir, const CheckpointState& s, int keep) {
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(dir));
  const std::string base = dir + "/" + StepName(s.step);
  const std::string data_path = base + ".h5";
  {
    DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(data_path));
    DRIFTRUN_RETURN_IF_ERROR(WriteArrays(*w, "/model", s.model));
    DRIFTRUN_RETURN_IF_ERROR(WriteArrays(*w, "/optim", s.optim));
    DRIFTRUN_RETURN_IF_ERROR(WritePreprocessor(*w, "/preprocess", s.pre));
    for (auto [k, v] : std::vector<std::pair<const char*, double>>{{"step", s.step},
                                                                   {"epoch", s.epoch},
                                                                   {"next_batch", s.next_batch},
                                                                   {"world_size", s.world_size},
                                                                   {"classes", s.classes},
                                                                   {"in_dim", s.in_dim},
                                                                   {"out_dim", s.out_dim},
                                                                   {"epoch_loss_sum", s.epoch_loss_sum},
                                                                   {"epoch_loss_steps", s.epoch_loss_steps},
                                                                   {"samples_seen", s.samples_seen}}) {
      DRIFTRUN_RETURN_IF_ERROR(w->AttrDouble("/", k, v));
    }
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "config_hash", s.config_hash));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "task", s.task));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "model_spec", s.model_spec));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "format", kFormat));
    DRIFTRUN_RETURN_IF_ERROR(w->Commit());
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::string sha, Sha256File(data_path));
  nlohmann::json m = {{"format", kFormat},
                      {"file", BaseName(data_path)},
                      {"sha256", sha},
                      {"bytes", FileSize(data_path)},
                      {"step", s.step},
                      {"epoch", s.epoch},
                      {"next_batch", s.next_batch},
                      {"world_size", s.world_size},
                      {"config_hash", s.config_hash},
                      {"created_unix", static_cast<int64_t>(std::time(nullptr))}};
  const std::string manifest = base + ".json";
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(manifest, m.dump(2) + "\n"));

  // Prune: newest `keep` stay; manifest first so no reader sees a manifest
  // without its data.
  auto all = Manifests(dir);
  for (size_t i = static_cast<size_t>(std::max(keep, 1)); i < all.size(); ++i) {
    std::string h5 = all[i].substr(0, all[i].size() - 5) + ".h5";
    std::remove(all[i].c_str());
    std::remove(h5.c_str());
  }
  return manifest;
}

Status VerifyCheckpoint(const std::string& manifest_path) {
  auto text = ReadFile(manifest_path);
  if (!text.ok()) return Status::Data("checkpoint manifest '" + manifest_path + "' cannot be read");
  nlohmann::json m = nlohmann::json::parse(text.value(), nullptr, false);
  if (m.is_discarded() || !m.is_object() || m.value("format", "") != kFormat || !m.contains("sha256") ||
      !m.contains("file")) {
    return Status::Data("checkpoint manifest '" + manifest_path + "' is corrupt");
  }
  std::string data = DirName(manifest_path) + "/" + m["file"].get<std::string>();
  auto sha = Sha256File(data);
  if (!sha.ok()) return Status::Data("checkpoint data '" + data + "' is missing");
  if (sha.value() != m["sha256"].get<std::string>()) {
    return Status::Data("checkpoint '" + data +
                        "' does not match its manifest's sha256 (corrupt or truncated)");
  }
  return Status::Ok();
}

Result<CheckpointState> ReadCheckpoint(const std::string& path) {
  std::string manifest = path;
  if (EndsWith(path, ".h5")) manifest = path.substr(0, path.size() - 3) + ".json";
  DRIFTRUN_RETURN_IF_ERROR(VerifyCheckpoint(manifest));
  return ReadCheckpointData(manifest.substr(0, manifest.size() - 5) + ".h5", "");
}

Result<CheckpointState> ReadCheckpointData(const std::string& data, const std::string& sha256) {
  if (!sha256.empty()) {
    auto sha = Sha256File(data);
    if (!sha.ok()) return Status::Data("checkpoint '" + data + "' is missing");
    if (sha.value() != sha256) {
      return Status::Data("checkpoint '" + data +
                          "' does not match its recorded sha256 (corrupt or truncated)");
    }
  }
  DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(data));
  CheckpointState s;
  auto attr = [&](const char* k) {
    auto v = r->AttrDouble("/", k);
    return v.ok() ? v.value() : 0.0;
  };
  s.step = static_cast<int64_t>(attr("step"));
  s.epoch = static_cast<int64_t>(attr("epoch"));
  s.next_batch = static_cast<int64_t>(attr("next_batch"));
  s.world_size = static_cast<int64_t>(attr("world_size"));
  s.classes = static_cast<int64_t>(attr("classes"));
  s.in_dim = static_cast<int64_t>(attr("in_dim"));
  s.out_dim = static_cast<int64_t>(attr("out_dim"));
  s.epoch_loss_sum = attr("epoch_loss_sum");
  s.epoch_loss_steps = static_cast<int64_t>(attr("epoch_loss_steps"));
  s.samples_seen = attr("samples_seen");
  DRIFTRUN_ASSIGN_OR_RETURN(s.config_hash, r->AttrString("/", "config_hash"));
  DRIFTRUN_ASSIGN_OR_RETURN(s.task, r->AttrString("/", "task"));
  // Checkpoints written before model descriptions existed have none: they still
  // resume (training builds the model from its config) but cannot be exported.
  auto spec = r->AttrString("/", "model_spec");
  if (spec.ok()) s.model_spec = spec.value();
  DRIFTRUN_ASSIGN_OR_RETURN(s.model, ReadArrays(*r, "/model"));
  DRIFTRUN_ASSIGN_OR_RETURN(s.optim, ReadArrays(*r, "/optim"));
  DRIFTRUN_ASSIGN_OR_RETURN(s.pre, ReadPreprocessor(*r, "/preprocess", s.in_dim));
  return s;
}

std::string FindLatestCheckpoint(const std::string& dir, std::vector<std::string>* warnings) {
  for (const auto& m : Manifests(dir)) {
    Status st = VerifyCheckpoint(m);
    if (st.ok()) return m;
    if (warnings) warnings->push_back("skipping " + st.message());
  }
  return "";
}

Result<std::string> RunCheckpoint(const std::string& run_dir) {
  std::vector<std::string> warnings;
  std::string c = FindLatestCheckpoint(run_dir + "/checkpoints", &warnings);
  if (c.empty()) return Status::Usage("run folder '" + run_dir + "' has no valid checkpoint");
  return c;
}

}  // namespace driftrun
