// driftrun replay: the service's batch checks and trigger policy over past
// batches, without training, so that a team can tune thresholds before turning
// the service on. Each file of a folder, oldest modification time first, is
// scored exactly as the service scores it (ScoreBatch) against one registered
// version, at its modification time, and the decision recorded in a journal in
// memory (RecordTrigger); a queued retrain is assumed to take `retrain_s`
// seconds (batches meanwhile merge into it), after which the cooldown counts.
// Nothing on disk is written or moved.
#pragma once

#include <string>
#include <vector>

#include "scheduler/batch_score.h"
#include "scheduler/service.h"

namespace driftrun {

struct ReplayRow {
  BatchRecord batch;       // decision: scored | too_small | quarantined (reason says why)
  TriggerOutcome trigger;  // action none for a batch that cannot trigger
};

// Files of `dir` that are the model's training data (data.train) are not
// batches: left out, and named in *skipped when given.
Result<std::vector<ReplayRow>> Replay(const ModelEntry& m, const Production& p, const std::string& dir,
                                      double retrain_s, std::vector<std::string>* skipped = nullptr);

}  // namespace driftrun
