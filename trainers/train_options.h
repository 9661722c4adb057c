// TrainOptions: the typed, validated view of a Config that training uses.
// FromConfig checks what the schema cannot (ranges, divisibility by the number of
// ranks) and returns Status::Usage naming the key and what to do.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "dataio/tabular_data.h"
#include "kernels/text_hash.h"
#include "models/model_spec.h"
#include "trainers/optimizer_options.h"
#include "trainers/preprocess.h"
#include "trainers/schedule.h"

namespace driftrun {

struct TrainOptions {
  std::string name;
  TabularSpec train;                     // path: the first of train_paths
  std::vector<std::string> train_paths;  // data.train: read as one table (dataio/tabular_set.h)
  std::string val_path;
  double val_fraction = 0.1;
  double memory_mb = 0;              // data.memory_mb (0: a quarter of the machine's memory)
  int64_t stream_chunk_rows = 4096;  // data.stream_chunk_rows
  PreprocessOptions preprocess;
  ModelOptions model;   // kind, hidden, activation, dropout, cnn and text sizes
  NgramOptions ngrams;  // model.kind = "text"
  double dropout = 0;
  int64_t classes = 0;
  int64_t epochs = 1;
  int64_t max_steps = 0;
  int64_t batch_size = 1;
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  double grad_clip = 0;
  uint64_t seed = 42;
  bool shuffle = true;
  std::string init_from;  // train.init_from: warm start (weights and preprocessing), fresh optimizer
  int64_t threads = 0;
  std::string device = "auto";
  std::string cuda_graph = "auto";  // auto | on | off (cuda_graph.h)
  int64_t log_every_steps = 0;
  std::string backend = "auto";
  double bucket_mb = 25;
  std::string shared_memory = "auto";  // dist.shared_memory: auto | on | off (shared_step.h)
  double timeout_s = 600;              // dist.timeout_s
  int64_t verify_every = 0;
  int64_t checkpoint_every = 100;
  bool checkpoint_initial = false;
  int64_t checkpoint_keep = 3;

  static Result<TrainOptions> FromConfig(const Config& cfg, int world_size);
};

}  // namespace driftrun
