#include "scheduler/batch_score.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/file_util.h"
#include "common/json_get.h"
#include "common/sha256.h"
#include "common/text.h"
#include "dataio/h5_io.h"
#include "dataio/tabular_data.h"
#include "dataio/tabular_set.h"
#include "monitor/batch_check.h"
#include "registry/model_source.h"
#include "trainers/predict.h"
#include "trainers/train_options.h"

namespace driftrun {
namespace {

double MtimeOf(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) return 0;
  return static_cast<double>(sb.st_mtim.tv_sec) + static_cast<double>(sb.st_mtim.tv_nsec) * 1e-9;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// The journal's summary of a drift report: each feature's score and flag.
nlohmann::json DriftSummary(const DriftReport& d) {
  nlohmann::json feats = nlohmann::json::object();
  for (const FeatureDrift& f : d.features) {
    feats[f.name] = {{"drifted", f.drifted}, {"score", f.score}, {"decided_by", f.decided_by}};
  }
  return {{"dataset_drift", d.dataset_drift},
          {"drift_share", d.drift_share},
          {"drifted_features", d.drifted},
          {"features", feats}};
}

Result<ConceptCheck> CheckLabelled(const ModelEntry& m, const Production& p, const std::string& file,
                                   int64_t rows, const ConceptBaseline& base) {
  std::vector<int64_t> all(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) all[static_cast<size_t>(i)] = i;
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<double> losses, RowLosses(p.checkpoint, p.config, file, all));
  return CheckConcept(losses, base.loss, base.rows, m.trigger.metric_drop, 1000, 0, base.from);
}

// The model's data.train opened as its config reads it; Status::Usage naming
// the model config when it does not (found by a stranger: a classification
// config on regression data started, then quarantined good batches, blaming them).
Result<std::unique_ptr<TabularSet>> OpenTrainingData(const ModelEntry& m, const TrainOptions& o) {
  auto set = TabularSet::Open(o.train_paths, o.train);
  if (set.ok()) return set;
  return Status::Usage("model config '" + m.config_path +
                       "': its own training data does not read as the config " +
                       "says (train would refuse it too): " + set.status().message());
}

// Status::Usage, naming the model config and the columns, when the opened
// data.train lacks production's feature columns (found by a stranger: a
// changed column set was accepted at start, then every batch was quarantined
// with a reason that blamed the batch). Reads the checkpoint only.
Status CheckColumnsMatchProduction(const ModelEntry& m, const TrainOptions& o, const TabularSet& set,
                                   const VersionRecord& prod) {
  if (o.train.text || o.train.rank != 2 || !set.meta().named) return Status::Ok();
  const std::string label = m.name + ":" + std::to_string(prod.version);
  const Artifact* ck = prod.Find("checkpoint");
  if (!ck) return Status::Data("production " + label + " has no checkpoint artifact");
  auto state = ReadCheckpointData(ck->path, ck->sha256);
  if (!state.ok()) {
    return state.status().WithContext("production " + label +
                                      " (run `driftrun registry verify`; the artifact store is damaged)");
  }
  const std::vector<std::string>& want = state.value().pre.names;
  if (want.empty()) return Status::Ok();
  auto order = MatchColumns(want, set.meta().feature_names, "data.train ('" + o.train_paths.front() + "')",
                            "production " + label);
  if (order.ok()) return Status::Ok();
  return Status::Usage(
      "model config '" + m.config_path + "': " + order.status().message() +
      ". The service retrains from production and scores batches against its columns: restore "
      "the training data, or serve the changed model under another name or registry");
}

// What `train` would say about this labelled batch in the model's training
// window: columns by name, types and shapes, finite labels (classes in range).
// Status::Usage when the model's own training data is at fault (never the batch's).
Status CheckTrainable(const ModelEntry& m, const std::string& file, int64_t classes) {
  DRIFTRUN_ASSIGN_OR_RETURN(TrainOptions o, TrainOptions::FromConfig(m.cfg, 1));
  auto set = TabularSet::Open({o.train_paths.front(), file}, o.train);
  if (!set.ok()) {
    // opened alone only when joined fails: the model's own data at fault is Usage
    DRIFTRUN_RETURN_IF_ERROR(OpenTrainingData(m, o).status());
    return set.status();
  }
  TabularRows rows;
  return set.value()->ReadRange(set.value()->offset(1), set.value()->rows(1), classes, &rows);
}

// A labelled batch that cannot join the training window is Status::Data
// (quarantined); the model's own training data that no longer reads (being
// rewritten?) is never the batch's fault: Status::Infra, it waits a poll.
Status CheckJoinsWindow(const ModelEntry& m, const Production& p, const std::string& file) {
  const bool classification = p.config.Str("model.task") == "classification";
  Status trainable = CheckTrainable(m, file, classification ? p.checkpoint.classes : 0);
  if (trainable.code() == Code::kUsage)
    return Status::Infra(trainable.message() + "; batch " + file + " waits and is scored once it reads");
  if (trainable.ok()) return trainable;
  return Status::Data("its labelled rows cannot join the training window (" + trainable.message() +
                      "): fix the batch and send it again under a new name");
}

// Features whose missing share rose past drift.missing_rise (or that have no
// finite value): a broken pipeline, not a world that changed.
std::vector<std::string> BrokenFeatures(const DriftReport& d) {
  std::vector<std::string> out;
  for (const FeatureDrift& f : d.features) {
    if (f.drifted && f.decided_by == "missing") {
      out.push_back(f.name + " (missing " + Fixed(100 * f.ref_missing, 0) + "% -> " +
                    Fixed(100 * f.cur_missing, 0) + "%)");
    }
  }
  return out;
}

}  // namespace

Result<int64_t> ProductionVersion(const std::string& root, const std::string& name) {
  if (!PathExists(root + "/registry.db")) return int64_t{0};
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(root));
  auto v = reg->Get({name, 0, "production"});
  // Only "no such model or alias" means none yet: a damaged registry is an
  // error, never a reason to train and promote a first model.
  if (!v.ok()) return v.status().code() == Code::kUsage ? Result<int64_t>(0) : Result<int64_t>(v.status());
  return v.value().version;
}

Status CheckPromotedIsInRegistry(Journal& jn, const ModelEntry& m, int64_t production, Registry* open) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto promoted, jn.LastPromoted(m.name));
  if (promoted.first == 0) return Status::Ok();
  const std::string job = std::to_string(promoted.first);
  const std::string version = m.name + ":" + std::to_string(promoted.second);
  std::string what;
  if (!PathExists(m.registry + "/registry.db")) {
    what = "does not exist (no registry.db)";
  } else if (production == 0) {
    what = "has no production version of " + m.name;
  } else {
    // Found by a stranger: another registry with a production version of its
    // own was taken for the service's, and its versions mixed into the journal.
    std::unique_ptr<Registry> own;
    if (!open) {
      DRIFTRUN_ASSIGN_OR_RETURN(own, Registry::Open(m.registry));
      open = own.get();
    }
    auto v = open->Get({m.name, promoted.second, ""});
    if (!v.ok() && v.status().code() != Code::kUsage) return v.status();
    const nlohmann::json service = v.ok() ? JsonObjectAt(v.value().record, "service") : nlohmann::json();
    if (v.ok() && JsonInt(service, "job", 0) == promoted.first) return Status::Ok();
    what = !v.ok() ? "has no " + version
                   : "holds a " + version + " that job " + job + " did not register (" +
                         (JsonInt(service, "job", 0) > 0
                              ? "it came from job " + std::to_string(JsonInt(service, "job", 0))
                              : std::string("registered by hand or by another tool, not by a service")) +
                         ")";
  }
  return Status::Usage("model '" + m.name + "': registry '" + m.registry + "' " + what + ", yet job " + job +
                       " of the service's journal promoted " + version +
                       " into its registry: was [registry] path changed, or the registry moved or deleted? "
                       "Point [registry] path back at that registry, or give the service a new state folder "
                       "(service.state) to start over with this one");
}

Status CheckModelAtStart(const ModelEntry& m, Journal* jn) {
  DRIFTRUN_ASSIGN_OR_RETURN(TrainOptions o, TrainOptions::FromConfig(m.cfg, 1));
  DRIFTRUN_ASSIGN_OR_RETURN(auto set, OpenTrainingData(m, o));
  std::unique_ptr<Registry> reg;
  VersionRecord prod;  // version 0: none yet
  if (PathExists(m.registry + "/registry.db")) {
    DRIFTRUN_ASSIGN_OR_RETURN(reg, Registry::Open(m.registry));
    DRIFTRUN_RETURN_IF_ERROR(reg->CheckIntegrity().WithContext("model " + m.name));
    auto v = reg->Get({m.name, 0, "production"});
    if (!v.ok() && v.status().code() != Code::kUsage) return v.status();  // damaged, never "none yet"
    if (v.ok()) prod = v.take();
  }
  if (jn) DRIFTRUN_RETURN_IF_ERROR(CheckPromotedIsInRegistry(*jn, m, prod.version, reg.get()));
  if (prod.version == 0) return Status::Ok();
  return CheckColumnsMatchProduction(m, o, *set, prod);
}

Status MarkIfDuplicate(Journal& jn, const ModelEntry& m, BatchRecord* b) {
  if (b->decision != "scored") return Status::Ok();
  DRIFTRUN_ASSIGN_OR_RETURN(std::string twin, jn.FirstScoredWithSha(m.name, b->sha256));
  std::string what = "scored before";
  if (twin.empty() || twin == b->file) {
    twin.clear();
    // Found by a stranger: a copy of train.h5 dropped as a batch trained its
    // rows twice and counted its held-out rows twice in the verdict.
    const int64_t size = FileSize(b->file);
    for (const std::string& t : m.cfg.StrList("data.train")) {
      if (size < 0 || FileSize(t) != size) continue;  // a hash only for a file of the same size
      if (HoldsBytes(t, b->sha256)) {
        twin = t;
        what = "the model's training data (data.train)";
        break;
      }
    }
  }
  if (twin.empty()) return Status::Ok();
  b->decision = "duplicate";
  b->reason = "the same data as " + twin + ", " + what +
              ": a duplicate, never a trigger and never trained on " + "twice (" + b->reason + ")";
  return Status::Ok();
}

// The version's holdout loss and rows, recorded at registration.
ConceptBaseline RecordedBaseline(const nlohmann::json& record) {
  const nlohmann::json& holdout = JsonObjectAt(JsonObjectAt(record, "metrics"), "holdout");
  ConceptBaseline b;
  b.loss = JsonNumber(holdout, "loss", NAN);
  b.rows = JsonInt(holdout, "rows", 0);
  return b;
}

Result<std::unique_ptr<Production>> LoadProduction(const std::string& root, const std::string& name,
                                                   int64_t version, const std::string& alias) {
  auto p = std::make_unique<Production>();
  if (!PathExists(root + "/registry.db")) return p;
  DRIFTRUN_ASSIGN_OR_RETURN(auto reg, Registry::Open(root));
  ModelRef ref{name, version, version > 0 ? "" : alias};
  auto v = reg->Get(ref);
  if (!v.ok()) {
    if (v.status().code() != Code::kUsage || version > 0) return v.status();
    return p;  // no such model or alias yet
  }
  p->record = v.take();
  p->version = p->record.version;
  DRIFTRUN_RETURN_IF_ERROR(LoadVersion(p->record, &p->checkpoint, &p->config));
  const Artifact* ck = p->record.Find("checkpoint");
  p->checkpoint_path = ck ? ck->path : "";
  p->concept = RecordedBaseline(p->record.record);
  if (const Artifact* prof = p->record.Find("profile")) {
    DRIFTRUN_ASSIGN_OR_RETURN(p->profile, ReadProfile(prof->path));
    p->has_profile = true;
  }
  return p;
}

std::vector<BatchFile> ListBatches(const std::string& dir) {
  std::vector<BatchFile> out;
  for (const std::string& name : ListDir(dir)) {
    if (name.empty() || name[0] == '.' || IsTempFileName(name) || !EndsWith(name, ".h5")) continue;
    const std::string path = AbsolutePath(dir + "/" + name);
    if (IsDir(path)) continue;
    out.push_back({path, "", MtimeOf(path)});
  }
  std::sort(out.begin(), out.end(), [](const BatchFile& a, const BatchFile& b) {
    return a.mtime != b.mtime ? a.mtime < b.mtime : a.path < b.path;
  });
  return out;
}

BatchRecord BatchRecordFor(const std::string& model, const BatchFile& file, double now) {
  BatchRecord b;
  b.model = model;
  b.file = file.path;
  b.sha256 = file.sha256;
  b.mtime = file.mtime;
  b.scored_at = now;
  return b;
}

Result<BatchRecord> ScoreBatch(const ModelEntry& m, const Production& p, const BatchFile& file,
                               const std::string& report_path, double now, const Baselines* over) {
  BatchRecord b = BatchRecordFor(m.name, file, now);
  b.production = p.version;
  nlohmann::json report = {
      {"model", m.name}, {"version", p.version}, {"file", file.path}, {"sha256", file.sha256}};
  std::vector<std::string> why;
  DriftReport d_report;
  if (p.has_profile) {
    const bool newer = over && over->profile;
    DRIFTRUN_ASSIGN_OR_RETURN(BatchDrift d,
                              CheckBatchDrift(file.path, newer ? *over->profile : p.profile, p.config));
    d_report = d.drift;
    b.rows = d.rows;
    b.labelled = d.labelled;
    b.drifted = d.drift.dataset_drift;
    b.drift_share = d.drift.drift_share;
    b.scores["drift"] = DriftSummary(d.drift);
    report["drift"] = d.drift.ToJson();
    report["warnings"] = d.warnings;
    why.push_back(std::string(b.drifted ? "data drift: " : "no data drift: ") +
                  std::to_string(d.drift.drifted) + " of " + std::to_string(d.drift.features.size()) +
                  " features drifted (share " + Fixed(d.drift.drift_share, 2) + ")" +
                  (newer ? " against " + over->profile_from : ""));
  } else {
    DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(file.path));
    const std::string kind = p.config.Str("model.kind");
    const std::string inputs = p.config.Str(kind == "cnn"    ? "data.images"
                                            : kind == "text" ? "data.text"
                                                             : "data.features");
    DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, r->Info(inputs));
    b.rows = info.rows();
    b.labelled = r->Has(p.config.Str("data.labels"));
    why.push_back("no data drift check: " + m.name + ":" + std::to_string(p.version) +
                  " has no reference profile (model kind " + p.config.Str("model.kind") + ")");
  }
  if (b.labelled && b.rows > 0) {
    DRIFTRUN_RETURN_IF_ERROR(CheckJoinsWindow(m, p, file.path));
    DRIFTRUN_ASSIGN_OR_RETURN(
        ConceptCheck c,
        CheckLabelled(m, p, file.path, b.rows, over && over->concept ? *over->concept : p.concept));
    b.concept = c.drifted;
    b.scores["concept"] = c.ToJson();
    report["concept"] = c.ToJson();
    why.push_back(c.reason);
  }
  b.decision = b.rows < m.trigger.min_rows ? "too_small" : "scored";
  const std::vector<std::string> broken =
      p.has_profile ? BrokenFeatures(d_report) : std::vector<std::string>{};
  if (!broken.empty()) {
    b.decision = "quality";
    b.drifted = b.concept = false;
    why.push_back("data quality: " + Join(broken, ", ") +
                  ": a broken pipeline, not drift: recorded, never triggers a retrain nor joins a training "
                  "window; fix the data and send the batch again under a new name");
  }
  if (b.decision == "too_small") {
    why.push_back(std::to_string(b.rows) + " rows < monitor.min_rows " + std::to_string(m.trigger.min_rows) +
                  ": recorded, never triggers");
  }
  for (size_t i = 0; i < why.size(); ++i) b.reason += (i ? "; " : "") + why[i];
  report["decision"] = b.decision;
  report["reason"] = b.reason;
  if (!report_path.empty()) {
    DRIFTRUN_RETURN_IF_ERROR(MakeDirs(DirName(report_path)));
    DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(report_path, report.dump(2) + "\n"));
    b.report = report_path;
  }
  return b;
}

std::string KeptBatchPath(const std::string& state, const BatchRecord& b) {
  return state + "/batches/" + b.model + "/" + b.sha256.substr(0, 16) + "/" + BaseName(b.file);
}

bool HoldsBytes(const std::string& path, const std::string& sha256) {
  auto sha = Sha256File(path);
  return sha.ok() && sha.value() == sha256;
}

Result<std::string> ScoredData(const std::string& state, const BatchRecord& b) {
  const std::string kept = KeptBatchPath(state, b);
  const std::string source = PathExists(kept) ? kept : b.file;
  if (HoldsBytes(source, b.sha256)) return source;
  auto sha = Sha256File(source);  // again, only for the message
  const std::string what = source == b.file ? "it" : "its kept copy " + kept;
  return Status::Data(sha.ok() ? what + " no longer holds the data that was scored (now sha256 " +
                                     sha.value().substr(0, 12) + "; edited in place?)"
                               : sha.status().message());
}

Status KeepBatch(const std::string& state, const BatchRecord& b) {
  const std::string kept = KeptBatchPath(state, b);
  DRIFTRUN_RETURN_IF_ERROR(MakeDirs(DirName(kept)));
  return LinkOrCopyFile(b.file, kept);
}

}  // namespace driftrun
