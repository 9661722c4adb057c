// The training window of a retraining job: the model's config with
// data.train + the newest retrain.window labelled batches (the service's kept
// copies, each checked against the sha256 it was scored with; removed,
// edited and duplicate batches left out, with the reason), the reference
// profile's batches (retrain.reference), and the refusal of a drift retrain
// with nothing new to train on. Written once, to the job's config.toml.
#pragma once

#include <string>

#include "common/status.h"
#include "scheduler/job_driver.h"

namespace driftrun {

// Writes the job's config to `path` and sets j->spec (config, window_batches,
// left_out, reference, base_version, warm_from, cold_start). Status::Data: the
// job cannot run (nothing new to train on), with the reason.
Status WriteJobConfig(ServiceContext& ctx, const ModelEntry& m, JobRecord* j, const std::string& path);

}  // namespace driftrun
