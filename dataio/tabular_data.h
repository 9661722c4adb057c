// Tabular HDF5 data: validation of the file's layout and row reads for training.
//
// Layout (DESIGN.md, Data): features float [N, D] with NaN for missing values;
// labels float [N] or [N, K] for regression, integer [N] for classification;
// optional root attribute `feature_names`. Everything else is a Status::Data that
// names the file, the dataset and what to do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "dataio/h5_io.h"

namespace driftrun {

struct TabularSpec {
  std::string path;
  std::string features = "/features";
  std::string labels = "/labels";
  bool classification = false;
  bool text = false;  // features is a 1-D string dataset (model.kind = "text")
  int rank = 2;       // features' dimensions: 2 [rows, D] (mlp) or 4 [rows, C, H, W] (cnn)
};

struct TabularMeta {
  int64_t rows = 0;
  int64_t dim = 0;             // features per row (product of shape; 0 for text)
  std::vector<int64_t> shape;  // per-row shape of the features: [D], [C, H, W], or [] for text
  int64_t label_dim = 1;       // regression targets per row (1 for classification)
  std::vector<std::string> feature_names;
};

Result<TabularMeta> InspectTabular(const H5Reader& file, const TabularSpec& spec);

// Rows read for a step or an epoch: x is [rows, dim] row-major; y holds
// regression targets [rows, label_dim], cls class ids [rows].
struct TabularRows {
  int64_t rows = 0;
  std::vector<float> x;
  std::vector<float> y;
  std::vector<int64_t> cls;
  std::vector<std::string> text;  // spec.text
};

// Reads rows [begin, begin + count) (one hyperslab) and checks labels: finite for
// regression, in [0, classes) for classification when classes > 0.
Status ReadTabularRange(const H5Reader& file, const TabularSpec& spec, const TabularMeta& meta, int64_t begin,
                        int64_t count, int64_t classes, TabularRows* out);

// A whole feature matrix (a float [rows, D] dataset) with its feature names, for
// the single-process commands (profile, drift, preprocess). Errors name the file.
struct FeatureMatrix {
  int64_t rows = 0, dim = 0;
  std::vector<float> x;
  std::vector<std::string> names;
};
Result<FeatureMatrix> ReadFeatureMatrix(const std::string& path, const std::string& dataset);

// An optional categorical matrix (an integer [rows, C] dataset, names from the
// attribute categorical_names); dim 0 when the file has no such dataset.
struct CategoricalMatrix {
  int64_t rows = 0, dim = 0;
  std::vector<int64_t> v;
  std::vector<std::string> names;
};
Result<CategoricalMatrix> ReadCategoricalMatrix(const std::string& path, const std::string& dataset);

}  // namespace driftrun
