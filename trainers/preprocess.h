// Feature preprocessing fitted on the training data: impute missing values (NaN),
// standardize, optionally clip. The fitted statistics are part of the model: saved
// in every checkpoint and applied identically at inference.
//
// Fit is collective: every rank passes the training rows of its shard (already in
// memory), partial sums are all-reduced (two passes: count and sum, then squared
// deviations from the global mean, in double), so the result does not depend on
// the number of ranks beyond double rounding. (The kernels issue replaces this
// with fused CPU/CUDA kernels.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainers/communicator.h"
#include "trainers/tabular_data.h"

namespace driftrun {

struct PreprocessOptions {
  std::string impute = "mean";  // mean | zero
  bool standardize = true;
  double clip_sigma = 0.0;
};

struct Preprocessor {
  PreprocessOptions opts;
  std::vector<float> fill;         // value for a missing feature, before scaling
  std::vector<float> shift;        // subtracted
  std::vector<float> scale;        // multiplied (1/std, or 1 for constant columns)
  std::vector<std::string> notes;  // what was done ("column f3 is constant: scale 1")

  int64_t dim() const { return static_cast<int64_t>(shift.size()); }
  // In place on a row-major [rows, dim] block.
  void Apply(float* x, int64_t rows) const;
};

struct FitResult {
  Preprocessor pre;
  int64_t classes = 0;  // max(label)+1 for classification, else 0
};

// Collective over `comm`. `shard` holds this rank's rows; `train_pos` are the
// positions in it that are training rows; `first_row` is the shard's first row in
// the file (for messages). Errors: a column with no values in any rank's training
// rows, or an Inf, is Status::Data naming the file, row and column.
Result<FitResult> FitPreprocessor(Communicator& comm, const TabularRows& shard, const TabularSpec& spec,
                                  const TabularMeta& meta, const std::vector<int64_t>& train_pos,
                                  int64_t first_row, const PreprocessOptions& opts);

}  // namespace driftrun
