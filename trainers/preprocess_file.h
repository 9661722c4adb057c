// `driftrun preprocess` as a library: fit the preprocessing on a whole training
// file (one process, no MPI) or take a checkpoint's, and apply it to another
// file, writing float32 /features, the labels copied, and the parameters with
// per-column imputed and clipped counts under /preprocess. No LibTorch in this
// header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "models/preprocess_params.h"

namespace driftrun {

// Fits the config's [preprocess] on its data.train features.
Result<Preprocessor> FitPreprocessorOnFile(const Config& cfg);

struct PreprocessFileReport {
  int64_t rows = 0;
  std::vector<std::string> names;  // column names of the input
  std::vector<int64_t> imputed, clipped;
  std::vector<std::string> warnings;  // columns by position, heavy imputation
};

// Applies `pre` to dataset `features` of `in` and writes `out` atomically
// (labels dataset `labels` copied when present). Columns are matched to the
// transform's by name (pre.names) and written in the training order;
// Status::Data when they do not match or their count differs. A column imputed
// in more than `missing_rise` of its rows gets a warning.
Result<PreprocessFileReport> PreprocessFile(Preprocessor pre, const std::string& in, const std::string& out,
                                            const std::string& features, const std::string& labels,
                                            double missing_rise);

// One warning per column whose imputed share of `rows` exceeds `limit`
// (drift.missing_rise), naming the column and saying `consequence`.
void WarnImputed(const std::vector<int64_t>& imputed, int64_t rows, double limit,
                 const std::vector<std::string>& names, const std::string& consequence,
                 std::vector<std::string>* warnings);

}  // namespace driftrun
