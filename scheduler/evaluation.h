// Champion vs challenger: the verdict that ends every retraining job, with its
// numbers and its reason (never silence). Both models' per-row losses on
//   (a) the challenger's holdout: the rows its training held out (data.val, or
//       each training file's val_fraction split), and
//   (b) the window's held-out rows: the same split of the labelled batches the
//       job added to the training window,
// each with a paired bootstrap 95% interval of the mean difference
// (challenger - champion). Promote when the challenger is no worse on (a) by
// more than the registry policy's tolerance (relative) and better on (b)
// beyond chance (the upper end of the difference's interval below zero; on
// the held-out rows of the batches since the drift when there are any); (b) is skipped, and the verdict says
// so, when the window has no labelled held-out rows. A job without a champion (a model's first version) is
// promoted as the first model. A window without labelled batches (nothing
// new to learn from) promotes only a challenger better on (a) beyond chance. With reference batches (the
// window's batches since the drift), both losses on their held-out rows too
// (`since_drift`): the baseline of later concept-drift checks, not part of
// the decision.
//
// Thread-safety: stateless.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "models/checkpoint.h"
#include "scheduler/batch_score.h"

namespace driftrun {

struct Comparison {
  bool done = false;
  std::string skipped;  // why it was not computed
  int64_t rows = 0;
  double champion = 0, challenger = 0;  // mean loss
  double diff = 0, lo = 0, hi = 0;      // challenger - champion: mean and bootstrap 95% interval
  double relative = 0;                  // diff / champion
  nlohmann::json ToJson() const;
};

struct Verdict {
  bool promote = false;
  std::string reason;
  Comparison holdout, window, since_drift;
  // Production's loss on every row of the batches since the drift (rows 0: not measured).
  double production_since_drift_loss = 0;
  int64_t production_since_drift_rows = 0;
  double tolerance = 0;
  int64_t champion = 0;  // the version compared against (0: none)
  // The window held no labelled batch: the challenger trained on nothing
  // production did not (a `driftrun signal` with no new data, say).
  bool window_empty = false;
  // Set by Decide: the challenger is no worse on its holdout than the
  // tolerance allows (a sound model), and even the lower end of its gain on
  // the batches since the drift is within the tolerance (retraining does not
  // help there): the service's journal baselines (Service::JournalBaselines).
  bool holdout_ok = false, no_gain_since_drift = false;
  nlohmann::json ToJson() const;
};

struct EvaluationInputs {
  const CheckpointState* challenger = nullptr;
  const Config* challenger_cfg = nullptr;      // the job's resolved config (its data.train window)
  const Production* champion = nullptr;        // version 0: none
  std::vector<std::string> window_batches;     // labelled batch files the job added to data.train
  std::vector<std::string> reference_batches;  // those since the drift (retrain.reference = "drift")
  double tolerance = 0.05;                     // the registry policy's
};

Result<Verdict> Evaluate(const EvaluationInputs& in);

// The decision rule alone (a pure function of the two comparisons).
void Decide(Verdict* v);

}  // namespace driftrun
