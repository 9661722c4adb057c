// The retraining service's configuration: the service config ([service]) and
// one experiment config per model ([monitor], [trigger], [retrain] beside the
// usual sections), loaded and checked together before anything runs, with the
// same --set overrides applied to each (a key only means something in the
// config whose section uses it).
//
// Thread-safety: plain data.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "scheduler/trigger_policy.h"

namespace driftrun {

struct ModelEntry {
  std::string name;         // the config's `name`: the registry model it keeps fresh
  std::string config_path;  // absolute
  Config cfg;               // with the --set overrides
  TriggerOptions trigger;
  std::string incoming;  // monitor.incoming (absolute; empty: not watched)
  std::string registry;  // registry.path (absolute)
  int64_t ranks = 2, window = 3, priority = 0;
  int64_t batch_size = 1;  // train.batch_size: a job's rank count must divide it
  bool warm_start = true;
  bool approval = false;            // retrain.promote = "approval"
  std::string reference = "drift";  // retrain.reference: drift | training
  int64_t min_rows = 200;           // monitor.min_rows
};

// The [monitor], [trigger] and [retrain] values serve checks in a model's
// config (ranges; retrain.ranks dividing train.batch_size when `serving` or
// when retrain.ranks is set), without its files: `driftrun config` checks
// them too, in a config that sets any of them. Status::Usage naming the key.
Status CheckServiceKeys(const Config& c, bool serving);

struct ServiceSetup {
  std::string config_path;  // absolute
  Config cfg;               // the service config
  std::string state;        // service.state (absolute)
  std::vector<std::string> sets;
  std::vector<ModelEntry> models;

  // Status::Usage (exit 2) naming the file and key for a missing or bad
  // config, a model listed twice, two configs with one name, or a model
  // without a registry.
  static Result<ServiceSetup> Load(const std::string& path, const std::vector<std::string>& sets);
  // As Load, under the --set values the service in its state folder was
  // started with (state/serve.json, RecordServed), then `sets`; `note` says
  // which were added ("" when none). Found by a stranger: `serve --set
  // trigger.max_per_day=2`, then `status` without it said "next retrain
  // allowed now". For status, signal, replay and the dashboard.
  static Result<ServiceSetup> LoadAsServed(const std::string& path, const std::vector<std::string>& sets,
                                           std::string* note);
  // serve: writes state/serve.json (this config and its --set values).
  Status RecordServed() const;
  const ModelEntry* Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  std::string Journal() const { return state + "/journal.db"; }
};

}  // namespace driftrun
