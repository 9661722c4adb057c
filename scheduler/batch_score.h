// Scoring one incoming batch for the retraining service (and for `driftrun
// replay`, which must decide exactly as the service does): data drift of every
// feature against the production version's reference profile, and, for a
// labelled batch, concept drift from the production model's per-row losses
// against its recorded holdout loss (monitor/batch_check.h). The full drift
// report is written next to the journal; the journal keeps a summary.
//
// Thread-safety: none (a Production is read by one thread).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "models/checkpoint.h"
#include "monitor/profile.h"
#include "registry/registry.h"
#include "scheduler/journal.h"
#include "scheduler/service_setup.h"

namespace driftrun {

// What a labelled batch's loss is compared with (concept drift): the
// version's holdout loss recorded at registration, or newer evidence from
// the service's journal (Baselines).
struct ConceptBaseline {
  double loss = 0;               // NaN: none
  int64_t rows = 0;              // over how many rows (0: not recorded)
  std::string from = "holdout";  // named in the reason
};

// Newer evidence than the registry record of what a batch is compared with
// (the service's journal: a rejected retrain whose sound challenger did no
// better on the batches since the drift than production).
struct Baselines {
  std::optional<ConceptBaseline> concept;  // replaces p.concept
  std::shared_ptr<const Profile> profile;  // replaces p.profile
  std::string profile_from;                // named in the reason
};

// A registered version the service scores batches against.
struct Production {
  int64_t version = 0;  // 0: the model has no such version yet
  VersionRecord record;
  bool has_profile = false;
  Profile profile;
  CheckpointState checkpoint;
  Config config;  // the version's own resolved config
  ConceptBaseline concept;
  std::string checkpoint_path;  // the registry artifact (a warm start's init_from)
};

// The version `alias` (or `version` when > 0) of `name` in the registry at
// `root`, with its profile and checkpoint loaded. version 0 when the registry
// or the alias does not exist yet. Status::Data when its artifacts are damaged.
Result<std::unique_ptr<Production>> LoadProduction(const std::string& root, const std::string& name,
                                                   int64_t version, const std::string& alias = "production");

// Each model at `serve` start, each thing opened once: its data.train as its
// config reads it, its registry's integrity, the journal's promotions in that
// registry (`jn` null: no journal yet), and production's feature columns in
// data.train. Status::Usage naming the model config for what the user must
// fix; a damaged registry is never read as "no production version yet".
Status CheckModelAtStart(const ModelEntry& m, Journal* jn);

// The production version number only (0: none), cheap enough for every poll.
Result<int64_t> ProductionVersion(const std::string& root, const std::string& name);

// Status::Usage when the registry has no production version of model `m`
// (`production` 0) although the service's journal promoted one: [registry]
// path changed, or the registry moved or was deleted. Found by a stranger:
// serve then waited for ever in silence, and status said "none yet".
// `open`: the registry already open, if any (else it is opened when needed).
Status CheckPromotedIsInRegistry(Journal& jn, const ModelEntry& m, int64_t production,
                                 Registry* open = nullptr);

// A scored batch with the bytes of one scored before under another name
// becomes a `duplicate`: its scores are kept and shown, but it never counts
// toward a trigger and never trains (its data is in the journal once). Found
// by a stranger: a renamed copy of a batch a job had trained on queued a
// retrain, and two copies of one drifted batch would count as two. The same
// for a copy of one of the model's data.train files (its rows train anyway).
Status MarkIfDuplicate(Journal& jn, const ModelEntry& m, BatchRecord* b);

struct BatchFile {
  std::string path;  // absolute
  std::string sha256;
  double mtime = 0;
};

// A journal record of `file` for `model` seen at `now`, nothing scored yet.
BatchRecord BatchRecordFor(const std::string& model, const BatchFile& file, double now);

// Scores `file` for model `m` against `p`: a BatchRecord with decision
// "scored" (or "too_small" under monitor.min_rows) and the summary in
// `scores`, the full report written atomically to `report_path` (kept in the
// record). A file the model cannot take (unreadable, other or fewer columns,
// labels of another shape) is Status::Data naming it: quarantine it. When
// the model's own training data does not read (rewritten under the service),
// Status::Infra: never the batch's fault, it is scored at a later poll.
// `over` (when given) replaces what it holds of p's baselines.
Result<BatchRecord> ScoreBatch(const ModelEntry& m, const Production& p, const BatchFile& file,
                               const std::string& report_path, double now, const Baselines* over = nullptr);

// Whether the file at `path` holds exactly the bytes with this sha256 (false
// when it cannot be read): the one test of "still the data that was scored".
bool HoldsBytes(const std::string& path, const std::string& sha256);

// Where the service keeps its own copy of a labelled batch it scored
// (state/batches/<model>/<sha256 prefix>/<name>, a hard link where it can):
// the training windows read it, so a file later renamed over the incoming
// one, or removed, does not change what a job trains on or what a version's
// lineage names.
std::string KeptBatchPath(const std::string& state, const BatchRecord& b);
// The file holding the data batch `b` was scored from: the kept copy, else
// (a journal from before copies were kept, or none could be made) the file
// itself. Status::Data, saying which, when its bytes are no longer those scored.
Result<std::string> ScoredData(const std::string& state, const BatchRecord& b);
Status KeepBatch(const std::string& state, const BatchRecord& b);

// The incoming batches of a folder: *.h5 files (no hidden or temporary files),
// oldest modification time first, then by name.
std::vector<BatchFile> ListBatches(const std::string& dir);

}  // namespace driftrun
