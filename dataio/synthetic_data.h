// Synthetic tabular data with a known ground truth, for demos, tests and drift work.
//
// Features x_j = mu_j + sigma_j * z_j with z ~ N(0, 1); the label is a fixed
// function of z (linear plus an interaction term for regression; the argmax of
// linear scores for classification) plus noise. Missing values are NaN with
// probability `missing`, put in after the labels are computed. Batches
// batch-001.h5 ... carry drift from batch `drift_from` on:
//   mean   the first ceil(drift_share * D) features shift by drift_magnitude * sigma_j
//   scale  those features' spread grows by the factor (1 + drift_magnitude)
//   label  features unchanged; the label function's weights on those features flip
// Every file is written atomically and carries attributes feature_names, drift,
// drifted_features and seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

struct SyntheticOptions {
  int64_t rows = 20000;
  int64_t features = 16;
  std::string task = "regression";  // regression | classification
  int64_t classes = 3;
  uint64_t seed = 7;
  double missing = 0.02;
  int64_t batches = 0;
  int64_t batch_rows = 2000;
  std::string drift = "none";  // none | mean | scale | label
  int64_t drift_from = 1;
  double drift_magnitude = 0.5;
  double drift_share = 0.5;
};

// Checks the options; Status::Usage naming the flag otherwise.
Status ValidateSynthetic(const SyntheticOptions& o);

// Writes <dir>/train.h5 and <dir>/batch-NNN.h5; appends the paths to *written.
// An earlier make-data's files there are replaced, and its batches beyond
// o.batches deleted (appended to *removed): a folder a service watches holds
// this data set alone. A train.h5 or batch-NNN.h5 that make-data did not write
// is refused (Status::Usage) before anything is written.
Status WriteSynthetic(const std::string& dir, const SyntheticOptions& o, std::vector<std::string>* written,
                      std::vector<std::string>* removed = nullptr);

}  // namespace driftrun
