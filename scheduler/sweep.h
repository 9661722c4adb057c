// Sweeps (driftrun submit with [sweep] params): the trials of a grid or random
// search over config keys, submitted as one Slurm job array, and what their
// run folders say afterwards (driftrun sweep status | summary).
//
// A sweep folder holds sweep.json (the trials and the array jobs),
// slurm/array-<k>.sbatch and one run folder per trial, trial-<n>/, whose
// slurm/config.toml is the resolved config with the trial's values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace driftrun {

struct SweepTrial {
  int index = 0;
  std::vector<std::string> sets;                     // "train.lr=0.001", one per swept key
  nlohmann::json params = nlohmann::json::object();  // {"train.lr": "0.001"} (TOML literals)
};

// The trials of cfg's [sweep] (empty when sweep.params is empty): grid = every
// combination, in the order of sweep.params (the last key varies fastest);
// random = sweep.trials draws of one value per key, a pure function of
// sweep.seed. Status::Usage for a bad entry, or more than kMaxTrials.
constexpr int kMaxSweepTrials = 100000;
Result<std::vector<SweepTrial>> ExpandSweep(const Config& cfg);

// What a trial's run folder says.
// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json's move constructor is not noexcept
struct TrialStatus {
  int index = 0;
  std::string state;  // pending | running | stopped (waiting for its requeue) | done | failed | damaged
  nlohmann::json params;
  int64_t step = 0;
  double val_loss = 0, val_metric = 0;  // NaN until an epoch ends (until done: the last epoch's loss)
  std::string metric_name, run_dir, reason;
};
// The trials of sweep folder `dir`, in index order. Status::Usage when `dir`
// holds no sweep.json (naming what it is instead).
Result<std::vector<TrialStatus>> ReadSweep(const std::string& dir);
// Finished trials by validation loss, best first (ties: lower index); others dropped.
std::vector<TrialStatus> RankTrials(const std::vector<TrialStatus>& trials);
nlohmann::json TrialJson(const TrialStatus& t);

}  // namespace driftrun
