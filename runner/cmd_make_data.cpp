// driftrun make-data: synthetic tabular HDF5 data with known ground truth and drift.
#include <gflags/gflags.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/text.h"
#include "dataio/synthetic_data.h"
#include "runner/commands.h"
#include "trainers/resume.h"

DEFINE_string(out, "", "output folder or file");
DEFINE_int64(rows, 20000, "training rows");
DEFINE_int64(features, 16, "feature columns");
DEFINE_string(task, "regression", "regression | classification");
DEFINE_int64(classes, 3, "classes");
DEFINE_uint64(seed, 7, "seed");
DEFINE_double(missing, 0.02, "missing rate");
DEFINE_int64(batches, 0, "later batches");
DEFINE_int64(batch_rows, 2000, "rows per batch");
DEFINE_string(drift, "none", "none | mean | scale | label");
DEFINE_int64(drift_from, 1, "first drifted batch");
DEFINE_double(drift_magnitude, 0.5, "drift size");
DEFINE_double(drift_share, 0.5, "share of drifted features");
DEFINE_bool(json, false, "print what was written as JSON");

namespace driftrun {

const CommandSpec kMakeDataSpec = {
    "make-data",
    "write synthetic tabular HDF5 data with a known ground truth, missing values and optional drift",
    "driftrun make-data [--out DIR] [--rows N] [--features D] [--task regression|classification] "
    "[--batches B --drift mean|scale|label --drift-from K ...]",
    {{"out", "folder for train.h5 and batch-001.h5, batch-002.h5, ... (default data/demo)"},
     {"rows", "rows in train.h5"},
     {"features", "feature columns (float32, /features)"},
     {"task", "regression (float32 /labels) or classification (int64 /labels)"},
     {"classes", "number of classes for classification"},
     {"seed", "seed of the ground truth and of every file"},
     {"missing", "probability that a feature value is missing (NaN)"},
     {"batches", "number of later batches (batch-NNN.h5), as a model would see in production"},
     {"batch_rows", "rows per batch"},
     {"drift",
      "drift injected into batches from --drift-from on: none, mean (shift by magnitude x sigma), "
      "scale (spread x (1 + magnitude)), label (label function changes, features do not)"},
     {"drift_from", "first batch (1-based) that drifts"},
     {"drift_magnitude", "drift size (in feature standard deviations for mean)"},
     {"drift_share", "share of features that drift (the first ceil(share x D))"},
     {"json", "print the written files and options as JSON"}},
    false};

int RunMakeData(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kMakeDataSpec, argc, argv, &args, &code)) return code;
  SyntheticOptions o;
  o.rows = FLAGS_rows;
  o.features = FLAGS_features;
  o.task = FLAGS_task;
  o.classes = FLAGS_classes;
  o.seed = FLAGS_seed;
  o.missing = FLAGS_missing;
  o.batches = FLAGS_batches;
  o.batch_rows = FLAGS_batch_rows;
  o.drift = FLAGS_drift;
  o.drift_from = FLAGS_drift_from;
  o.drift_magnitude = FLAGS_drift_magnitude;
  o.drift_share = FLAGS_drift_share;
  std::vector<std::string> written, removed;
  const std::string out = FLAGS_out.empty() ? "data/demo" : FLAGS_out;
  // A data set goes in a folder of its own, not among a run's or a registry's
  // files (nor a folder that looks like one: a run's names of the user's).
  const bool run_like = IsRunFolder(out) || IsDir(out + "/checkpoints") ||
                        PathExists(out + "/events.jsonl") || PathExists(out + "/config.resolved.toml");
  if (run_like || PathExists(out + "/registry.db"))
    return ReportStatus("make-data",
                        Status::Usage("--out '" + out + "' is a " + (run_like ? "run folder" : "registry") +
                                      "; make-data writes a data folder of its own: choose another"));
  if (Status in_store = CheckNotAnothersFile(out + "/train.h5", "--out", ""); !in_store.ok())
    return ReportStatus("make-data", in_store);
  Status st = WriteSynthetic(out, o, &written, &removed);
  if (!st.ok()) return ReportStatus("make-data", st);
  if (FLAGS_json) {
    nlohmann::json j = {{"files", written}, {"rows", o.rows},    {"features", o.features},
                        {"task", o.task},   {"drift", o.drift},  {"drift_from", o.drift_from},
                        {"seed", o.seed},   {"removed", removed}};
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& w : written) std::cout << "wrote " << EscapeForConsole(w) << "\n";
    for (const auto& r : removed)
      std::cout << "removed " << EscapeForConsole(r) << " (of the folder's earlier data set)\n";
  }
  return 0;
}

}  // namespace driftrun
