// What a run reports about itself: the start line and event, the summary,
// the end (done or stopped), and the labels they share. Internal to Train()
// (trainer.cpp); these are collective where they say so.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "trainers/step_loop.h"
#include "trainers/train_reporter.h"
#include "trainers/train_session.h"
#include "trainers/trainer.h"

namespace driftrun {

// The start event and console line ("training NAME: ..." or "resuming ...").
void ReportStart(TrainReporter& rep, const Session& s, const TrainRequest& req, const std::string& run_dir,
                 const std::string& ckpt_path, const LoopPosition& at);
// Collective. Sums the ranks' imputed and clipped counts into every rank's.
Status ReducePreCounts(Session& s);
// The reporter of a run in `run_dir` (rank 0 writes its files).
TrainReporter MakeReporter(const Session& s, const TrainRequest& req, const std::string& run_dir,
                           const Clock& clock);
// Collective. The stop message with the command to resume, or the summary and the done line.
Status ReportEnd(TrainReporter& rep, const Session& s, const TrainRequest& req, const LoopState& st,
                 const TrainResult& result, const std::string& config_hash, double wall);

}  // namespace driftrun
