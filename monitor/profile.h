// Reference profiles: what drift detection keeps of the training data.
//
// Per feature: row count, missing count, mean, std, min, max; the 9 interior
// decile edges with the reference counts in the 10 bins they make (for PSI); the
// 101 percentile edges with counts in their 102 slots (for histogram-based KS,
// Wasserstein and Jensen-Shannon). Computed by the kernels (column statistics,
// fine-histogram quantiles, histograms) on the data's device.
//
// Stored as HDF5 (readable with h5py): root attributes format, rows, source and
// feature_names; datasets count, missing, mean, std, min, max [D], psi_edges
// [D, 9], psi_counts [D, 10], fine_edges [D, 101], fine_counts [D, 102]; for
// categorical columns (attribute categorical_names) cat_offsets [C + 1] into
// cat_values and cat_counts (column c's categories are [offsets[c], offsets[c+1])).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace driftrun {

constexpr int kPsiBins = 10;
constexpr int kFineQuantiles = 100;

struct FeatureProfile {
  std::string name;
  double count = 0;    // finite values
  double missing = 0;  // NaN or +-Inf
  double mean = 0, std = 0, min = 0, max = 0;
  std::vector<double> psi_edges, psi_counts;
  std::vector<double> fine_edges, fine_counts;
};

// A categorical column: its sorted distinct values and their counts.
struct CategoryProfile {
  std::string name;
  std::vector<int64_t> values;
  std::vector<double> counts;
};

struct Profile {
  int64_t rows = 0;
  std::string source;
  std::vector<FeatureProfile> features;
  std::vector<CategoryProfile> categorical;  // from an optional /categorical dataset
};

// Category counts of row-major int64 values [rows, names.size()].
std::vector<CategoryProfile> ProfileCategories(const std::vector<int64_t>& v, int64_t rows,
                                               const std::vector<std::string>& names);

// x: float32 [rows, D] on any device.
Result<Profile> BuildProfile(const at::Tensor& x, const std::vector<std::string>& names,
                             const std::string& source);
// Counts of x's columns in the slots of the given per-feature edges (histogram
// kernel); returns [D][edges + 1] (the missing slot dropped).
Result<std::vector<std::vector<double>>> CountsAt(const at::Tensor& x,
                                                  const std::vector<std::vector<double>>& edges);

Status WriteProfile(const std::string& path, const Profile& p);
// A missing, truncated or malformed profile is Status::Data naming the file.
Result<Profile> ReadProfile(const std::string& path);
bool IsProfileFile(const std::string& path);

}  // namespace driftrun
