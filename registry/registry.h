// The model registry: a SQLite metadata store (WAL mode) and a content-addressed
// artifact folder, both under one root (`[registry] path`):
//   <root>/registry.db                 versions, artifacts, aliases, alias_events, approvals
//   <root>/artifacts/<ab>/<sha256>.<ext>   every file stored once, named by its sha256
// Versions are numbered per model from 1 and immutable (a trigger refuses UPDATE).
// Registration is idempotent per (run id, checkpoint sha256): the same run with
// the same final checkpoint gives the existing version; a run resumed and
// continued (a newer checkpoint) is a new version. Every alias move is one transaction and
// is recorded (who, when, why); rollback moves an alias back to its previous
// holder. Model and alias names are validated, and artifact paths are built from
// hex digests only, so nothing can point outside the root.
//
// Registry (metadata) and ArtifactStore (registry/artifact_store.h, files) are
// interfaces; Registry::Open gives the embedded SQLite + local folder pair.
//
// Concurrency: each writer takes SQLite's write lock (BEGIN IMMEDIATE, busy
// timeout 60 s), so processes registering at once get distinct versions. A
// Registry object is not shared between threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "registry/model_ref.h"
#include "registry/promotion_gate.h"

namespace driftrun {

struct Artifact {
  std::string kind;  // onnx | checkpoint | profile | report
  std::string path;  // absolute path in the store
  std::string sha256;
  int64_t bytes = 0;
};

struct VersionRecord {
  std::string name;
  int64_t version = 0;
  std::string run_id;
  std::string created;
  nlohmann::json record;  // every field of DESIGN.md's registry record, as stored
  std::vector<Artifact> artifacts;
  std::vector<std::string> aliases;  // current aliases pointing here
  nlohmann::json approvals = nlohmann::json::array();
  const Artifact* Find(const std::string& kind) const;
  nlohmann::json ToJson() const;  // record + version, artifacts, aliases, approvals
};

struct RegisterRequest {
  std::string name;
  std::string run_id;
  nlohmann::json record;                     // metrics, config, lineage, ... (no version yet)
  std::map<std::string, std::string> files;  // kind → file to store (copied in)
  // Writes the ONNX file for the assigned version and parent into `path`;
  // called inside the write transaction (so the version is final).
  std::function<Status(int64_t version, int64_t parent, const std::string& path)> make_onnx;
  // The model's promotion policy when this is its first registration (from the
  // config's [registry]); later registrations leave the stored policy alone.
  Policy policy;
};

struct PromoteOptions {
  std::string who, why;  // who is required
  // Holdout losses of (candidate, production holder) on one holdout, computed
  // fresh (runner: both models on the candidate's holdout rows). Unset: the
  // losses recorded at registration are compared.
  std::function<Result<std::pair<double, double>>(const VersionRecord& candidate,
                                                  const VersionRecord& production)>
      compare;
};

// bugprone-exception-escape is off here: the implicit noexcept move of its
// nlohmann::json member does not throw (clang-tidy cannot see it).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct PromoteResult {
  std::string alias;   // as stored (a new gated alias in the policy's spelling)
  bool noop = false;   // the alias already held the version: recorded, nothing moved
  int64_t holder = 0;  // the alias's holder before (0: none)
  // The holder's artifacts are damaged: compared on the losses recorded at
  // registration (not evaluated).
  bool holder_artifacts_damaged = false;
  nlohmann::json gate;  // the facts the gate used (DecidePromotion), as recorded
};

// The registry's metadata store. Open() gives the embedded default: SQLite at
// <root>/registry.db with a LocalArtifactStore at <root>/artifacts; a shared
// database can implement the same interface (DESIGN.md, Scale).
class Registry {
 public:
  // An existing registry: Status::Usage "registry not found: <root>" (exit 2)
  // when <root>/registry.db does not exist, and nothing is created. An older
  // schema is migrated. Infra errors: code 5.
  static Result<std::unique_ptr<Registry>> Open(const std::string& root);
  // Open, creating the root, database and schema when missing (registration only).
  static Result<std::unique_ptr<Registry>> Create(const std::string& root);
  virtual ~Registry() = default;

  // New version (or the existing one for the same run id and checkpoint
  // sha256: idempotent; *existed tells which when given), alias "candidate"
  // moved to a new one.
  virtual Result<VersionRecord> Register(const RegisterRequest& req, bool* existed) = 0;
  Result<VersionRecord> Register(const RegisterRequest& req) { return Register(req, nullptr); }
  virtual Result<VersionRecord> Get(const ModelRef& ref) = 0;
  // Every version of `name` ("" = all models). A version whose record cannot be
  // read fails the whole list, unless `unreadable` is given: then it is skipped
  // and its message ("the record of m:2 ... is not valid JSON ...") appended.
  virtual Result<std::vector<VersionRecord>> List(const std::string& name,
                                                  std::vector<std::string>* unreadable) = 0;
  Result<std::vector<VersionRecord>> List(const std::string& name) { return List(name, nullptr); }
  // Moves `alias` to name:version under the model's stored policy, whatever the
  // caller's config says: a gated alias needs the approval the policy requires
  // and a holdout loss within its tolerance (Status::Training "promotion
  // refused: ...", exit 4, if not). The version's artifacts are verified first
  // (Status::Data, exit 3, if damaged); a holder whose own artifacts are damaged
  // is replaced without a loss comparison (recorded). An alias spelled like an
  // existing one but for case or punctuation is Status::Usage.
  virtual Result<PromoteResult> Promote(const std::string& name, int64_t version, const std::string& alias,
                                        const PromoteOptions& o) = 0;
  // Records an approval; false when `by` had already approved that version
  // (one approval per person and version).
  virtual Result<bool> Approve(const std::string& name, int64_t version, const std::string& by,
                               const std::string& note) = 0;
  // Moves `alias` back one step in its history (successive rollbacks walk back
  // through it); the target's artifacts are verified first. Returns the version.
  virtual Result<int64_t> Rollback(const std::string& name, const std::string& alias, const std::string& who,
                                   const std::string& why) = 0;
  // The model's audit trail, oldest first: alias moves ("event": "alias", with
  // kind promote|rollback|register|noop and the gate's facts), approvals
  // ("approval") and policy changes ("policy").
  virtual Result<nlohmann::json> History(const std::string& name) = 0;
  virtual Result<Policy> GetPolicy(const std::string& name) = 0;
  // Stores a model's policy (Status::Usage for an unknown model or a bad policy)
  // and records who changed it, when and why.
  virtual Status SetPolicy(const std::string& name, const Policy& p, const std::string& who,
                           const std::string& why) = 0;
  // Checks the database (SQLite integrity, records that are not JSON, aliases,
  // artifact rows and approvals of missing versions) and recomputes every
  // artifact's sha256; returns one line per problem (empty: all good).
  virtual Result<std::vector<std::string>> Verify() = 0;
  // The metadata store's own integrity (not the artifacts: Verify): a damaged
  // database is Status::Data naming it. Cheap enough for a service's start.
  virtual Status CheckIntegrity() = 0;

  // The root of the embedded registry whose own files `path` would be (its
  // registry.db* or a file under its artifacts/, symbolic links resolved), or
  // "" when it is none: commands refuse to write there (registry verify checks
  // those files).
  static std::string HoldingStore(const std::string& path);
};

}  // namespace driftrun
