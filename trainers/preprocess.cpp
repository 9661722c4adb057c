#include "trainers/preprocess.h"

#include <algorithm>
#include <cmath>

#include "trainers/collectives.h"

namespace driftrun {

void Preprocessor::Apply(float* x, int64_t rows) const {
  const int64_t d = dim();
  const float clip = static_cast<float>(opts.clip_sigma);
  for (int64_t i = 0; i < rows; ++i) {
    float* r = x + i * d;
    for (int64_t j = 0; j < d; ++j) {
      float v = std::isnan(r[j]) ? fill[j] : r[j];
      v = (v - shift[j]) * scale[j];
      if (clip > 0) v = std::min(std::max(v, -clip), clip);
      r[j] = v;
    }
  }
}

Result<FitResult> FitPreprocessor(Communicator& comm, const TabularRows& data, const TabularSpec& spec,
                                  const TabularMeta& meta, const std::vector<int64_t>& train_pos,
                                  int64_t first_row, const PreprocessOptions& opts) {
  const int64_t d = meta.dim;
  // Pass 1 (local): count, sum per column; max label; Inf check.
  std::vector<double> sums(2 * d + 1, 0.0);  // count[d], sum[d], max_label
  Status local;
  for (int64_t i : train_pos) {
    for (int64_t j = 0; j < d; ++j) {
      float v = data.x[i * d + j];
      if (std::isnan(v)) continue;
      if (std::isinf(v)) {
        local = Status::Data("'" + spec.path + "' '" + spec.features + "' row " +
                             std::to_string(first_row + i) + ", column " + meta.feature_names[j] +
                             ": Inf is not a valid feature value (use NaN for missing)");
        break;
      }
      sums[j] += 1;
      sums[d + j] += v;
    }
    if (!local.ok()) break;
    if (spec.classification) sums[2 * d] = std::max(sums[2 * d], static_cast<double>(data.cls[i]));
  }
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(comm, local));
  std::vector<double> maxlab = {sums[2 * d]};
  sums.pop_back();
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &sums));
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &maxlab, ReduceOp::kMax));
  std::vector<double> total = {static_cast<double>(train_pos.size())};
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &total));

  FitResult r;
  r.pre.opts = opts;
  std::vector<double> mean(d);
  for (int64_t j = 0; j < d; ++j) {
    if (sums[j] == 0) {
      return Status::Data("'" + spec.path + "' '" + spec.features + "' column " + meta.feature_names[j] +
                          " (index " + std::to_string(j) +
                          ") has no values in the training rows (all NaN); drop the column or fill it");
    }
    mean[j] = sums[d + j] / sums[j];
  }

  // Pass 2: squared deviations from the global mean.
  std::vector<double> sq(d, 0.0);
  for (int64_t i : train_pos) {
    for (int64_t j = 0; j < d; ++j) {
      float v = data.x[i * d + j];
      if (!std::isnan(v)) sq[j] += (v - mean[j]) * (v - mean[j]);
    }
  }
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &sq));

  r.pre.fill.resize(d);
  r.pre.shift.resize(d);
  r.pre.scale.resize(d);
  for (int64_t j = 0; j < d; ++j) {
    double sd = std::sqrt(sq[j] / sums[j]);
    r.pre.fill[j] = opts.impute == "zero" ? 0.0f : static_cast<float>(mean[j]);
    r.pre.shift[j] = opts.standardize ? static_cast<float>(mean[j]) : 0.0f;
    if (!opts.standardize) {
      r.pre.scale[j] = 1.0f;
    } else if (!(sd > 1e-12 * std::max(1.0, std::fabs(mean[j])))) {
      r.pre.scale[j] = 1.0f;
      r.pre.notes.push_back("column " + meta.feature_names[j] + " is constant: not scaled");
    } else {
      r.pre.scale[j] = static_cast<float>(1.0 / sd);
    }
    int64_t missing = static_cast<int64_t>(total[0] - sums[j]);
    if (missing > 0) {
      r.pre.notes.push_back("column " + meta.feature_names[j] + ": " + std::to_string(missing) +
                            " missing values imputed with " + opts.impute);
    }
  }
  if (spec.classification) r.classes = static_cast<int64_t>(maxlab[0]) + 1;
  return r;
}

}  // namespace driftrun
