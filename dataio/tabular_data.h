// Tabular HDF5 data: validation of the file's layout and row reads for training.
//
// Layout (DESIGN.md, Data): features float [N, D] with NaN for missing values;
// labels float [N] or [N, K] for regression, integer [N] for classification;
// optional attribute `feature_names` (a list of strings, one per column) on the
// features dataset itself or, failing that, on the root group. Everything else
// is a Status::Data that names the file, the dataset and what to do.
//
// Columns meet models and profiles by name (MatchColumns): a file whose columns
// are in another order is reordered, one with missing or extra columns refused.
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
  bool named = false;  // feature_names came from the file (else f0, f1, ...)
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
  bool named = false;  // names came from the file (else f0, f1, ...)
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

// Column names of `dataset` ([rows, dim]): its own string-list attribute `attr`
// first (what h5py users write: f["features"].attrs["feature_names"]), then the
// root group's; prefix + index when neither exists (*named = false). A list
// whose length is not the column count is Status::Data naming both.
Result<std::vector<std::string>> ReadColumnNames(const H5Reader& r, const std::string& dataset,
                                                 const char* attr, int64_t dim, const char* prefix,
                                                 bool* named);

// For each name in `want` (a model's or a profile's columns, in its order), the
// index of the same name in `have` (a file's columns). Status::Data naming the
// missing and the extra columns when the sets differ, or the duplicates;
// `where` names the file and `whose` the other side ("the model", "the
// reference") in the message.
Result<std::vector<int64_t>> MatchColumns(const std::vector<std::string>& want,
                                          const std::vector<std::string>& have, const std::string& where,
                                          const std::string& whose = "the model");
// Puts the columns of row-major x [rows, file_names.size()] in the order of
// `want` by name. With no `want` (a model trained on a file without names) or
// a file without names, columns stay by position, and a line in *warnings
// says so. Status::Data as MatchColumns.
Status AlignColumns(const std::vector<std::string>& want, const std::vector<std::string>& file_names,
                    bool file_named, const std::string& where, int64_t rows, std::vector<float>* x,
                    std::vector<std::string>* warnings, const std::string& whose = "the model");
// True when `order` is 0, 1, 2, ...: nothing to reorder.
bool IsIdentity(const std::vector<int64_t>& order);
// Row-major x [rows, old width] to the columns `order` (x[:, order]).
void SelectColumns(std::vector<float>* x, int64_t rows, int64_t width, const std::vector<int64_t>& order);

}  // namespace driftrun
