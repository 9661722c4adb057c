// The retraining service's check of one incoming batch against the production
// version of its model:
//   - data drift of every feature against the version's reference profile
//     (columns matched by name; every score kept, drifted or not);
//   - with labels, concept drift (CheckConcept): the production model's mean loss on the
//     batch against the holdout loss recorded at its registration. It counts
//     when the relative rise reaches `metric_drop` and the rise is significant:
//     the lower end of its bootstrap 95% interval is above zero (a small clean
//     batch does not trigger by chance).
// A batch the model cannot take (unreadable, other or fewer columns) is a
// Status::Data naming the file: the service quarantines it.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "monitor/drift.h"
#include "monitor/profile.h"

namespace driftrun {

// Percentile bootstrap interval of the mean of `v`: `reps` resamples with
// replacement (splitmix64 from `seed`, so the same input gives the same
// interval), the (1-level)/2 and (1+level)/2 quantiles of their means.
std::pair<double, double> BootstrapMeanInterval(const std::vector<double>& v, int64_t reps, uint64_t seed,
                                                double level = 0.95);

// Percentile bootstrap interval of mean(v) / reference - 1 where `reference`
// is itself the mean of `reference_rows` rows: each resample of `v` is
// divided by a draw of the reference from its sampling spread: v's per-row
// coefficient of variation at the reference's level, over reference_rows rows
// (losses spread in proportion to their level; alike when nothing drifted).
// reference_rows <= 0: the reference counts as exact.
std::pair<double, double> BootstrapRiseInterval(const std::vector<double>& v, double reference,
                                                int64_t reference_rows, int64_t reps, uint64_t seed,
                                                double level = 0.95);

struct ConceptCheck {
  bool checked = false;             // the batch had labels and the version a recorded holdout loss
  double loss = 0;                  // the production model's mean loss on the batch
  double reference = 0;             // the holdout loss recorded at its registration
  int64_t reference_rows = 0;       // the holdout's rows (0: unknown, the loss counts as exact)
  double rise = 0;                  // loss / reference - 1
  double rise_lo = 0, rise_hi = 0;  // bootstrap 95% interval of the rise
  bool drifted = false;
  std::string reason;
  nlohmann::json ToJson() const;
};

// Concept drift from the production model's per-row losses on a labelled
// batch (trainers' RowLosses, computed by the caller: the monitor has no
// model code) against its recorded holdout loss over `reference_rows` rows
// (both means are samples: the interval counts the two). A pure function.
// `reference_name` says in the reason what the reference loss is.
ConceptCheck CheckConcept(const std::vector<double>& row_losses, double reference_loss,
                          int64_t reference_rows, double metric_drop, int64_t reps = 1000, uint64_t seed = 0,
                          const std::string& reference_name = "holdout");

struct BatchDrift {
  int64_t rows = 0;
  bool labelled = false;  // the file has the labels dataset
  DriftReport drift;
  std::vector<std::string> warnings;
};

// Data drift of `file`'s features (dataset names from `cfg`'s [data], options
// from its [drift]) against `reference`, columns matched by name.
Result<BatchDrift> CheckBatchDrift(const std::string& file, const Profile& reference, const Config& cfg);

}  // namespace driftrun
