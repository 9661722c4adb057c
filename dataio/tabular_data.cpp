#include "dataio/tabular_data.h"

#include <cmath>

namespace driftrun {

namespace {

// Column names from a string-list attribute of the root group when it has one
// name per column, else prefix + index.
std::vector<std::string> ColumnNames(const H5Reader& r, const char* attr, int64_t dim, const char* prefix) {
  auto names = r.AttrStrings("/", attr);
  if (names.ok() && static_cast<int64_t>(names.value().size()) == dim) return names.value();
  std::vector<std::string> out;
  for (int64_t j = 0; j < dim; ++j) out.push_back(prefix + std::to_string(j));
  return out;
}

}  // namespace

Result<TabularMeta> InspectTabular(const H5Reader& file, const TabularSpec& spec) {
  const std::string where = "'" + file.path() + "'";
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo fx, file.Info(spec.features));
  if (spec.text && (fx.kind != H5Kind::kString || fx.dims.size() != 1)) {
    return Status::Data(where + " dataset '" + spec.features +
                        "' must be a 1-D string array [rows] for model.kind = \"text\"; check [data] text");
  }
  if (!spec.text && (fx.kind != H5Kind::kFloat || static_cast<int>(fx.dims.size()) != spec.rank)) {
    return Status::Data(where + " dataset '" + spec.features + "' must be a " +
                        (spec.rank == 4 ? "4-D float array [rows, channels, height, width] for model.kind = "
                                          "\"cnn\"; check [data] images"
                                        : "2-D float array [rows, features]; check [data] features"));
  }
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo fy, file.Info(spec.labels));
  if (spec.classification) {
    if (fy.kind != H5Kind::kInteger || fy.dims.size() != 1) {
      return Status::Data(where + " dataset '" + spec.labels +
                          "' must be a 1-D integer array of class ids for model.task = "
                          "\"classification\"");
    }
  } else if (fy.kind != H5Kind::kFloat || fy.dims.empty() || fy.dims.size() > 2) {
    return Status::Data(where + " dataset '" + spec.labels +
                        "' must be a float array [rows] or [rows, targets] for model.task = "
                        "\"regression\"");
  }
  TabularMeta m;
  m.rows = fx.dims[0];
  m.shape.assign(fx.dims.begin() + 1, fx.dims.end());
  m.dim = spec.text ? 0 : fx.row_width();
  m.label_dim = spec.classification ? 1 : fy.row_width();
  if (fy.rows() != m.rows) {
    return Status::Data(where + ": '" + spec.labels + "' has " + std::to_string(fy.rows()) + " rows but '" +
                        spec.features + "' has " + std::to_string(m.rows) +
                        "; every feature row needs one label");
  }
  if (m.rows == 0) return Status::Data(where + ": '" + spec.features + "' has no rows");
  if (m.dim == 0 && !spec.text)
    return Status::Data(where + ": '" + spec.features + "' has no feature columns");
  if (!spec.text) m.feature_names = ColumnNames(file, "feature_names", m.dim, "f");
  return m;
}

Status ReadTabularRange(const H5Reader& file, const TabularSpec& spec, const TabularMeta& meta, int64_t begin,
                        int64_t count, int64_t classes, TabularRows* out) {
  out->rows = count;
  if (spec.text) {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadStrings(spec.features, begin, count, &out->text));
  } else {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadRange(spec.features, begin, count, &out->x));
  }
  if (spec.classification) {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadRange(spec.labels, begin, count, &out->cls));
    for (size_t i = 0; i < out->cls.size(); ++i) {
      int64_t c = out->cls[i];
      if (c < 0 || (classes > 0 && c >= classes)) {
        return Status::Data("'" + file.path() + "' '" + spec.labels + "' row " + std::to_string(begin + i) +
                            ": class id " + std::to_string(c) + " outside [0, " +
                            (classes > 0 ? std::to_string(classes) : std::string("inf")) +
                            "); fix the labels or set model.classes");
      }
    }
  } else {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadRange(spec.labels, begin, count, &out->y));
    for (size_t i = 0; i < out->y.size(); ++i) {
      if (!std::isfinite(out->y[i])) {
        return Status::Data("'" + file.path() + "' '" + spec.labels + "' row " +
                            std::to_string(begin + static_cast<int64_t>(i) / meta.label_dim) +
                            ": label is NaN or Inf; drop or fix that row");
      }
    }
  }
  return Status::Ok();
}

Result<FeatureMatrix> ReadFeatureMatrix(const std::string& path, const std::string& dataset) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(path));
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, r->Info(dataset));
  if (info.kind != H5Kind::kFloat || info.dims.size() != 2) {
    return Status::Data("'" + path + "' dataset '" + dataset +
                        "' must be a 2-D float array [rows, features]");
  }
  FeatureMatrix m;
  m.rows = info.dims[0];
  m.dim = info.dims[1];
  DRIFTRUN_RETURN_IF_ERROR(r->ReadRange(dataset, 0, m.rows, &m.x));
  m.names = ColumnNames(*r, "feature_names", m.dim, "f");
  return m;
}

Result<CategoricalMatrix> ReadCategoricalMatrix(const std::string& path, const std::string& dataset) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto r, H5Reader::Open(path));
  CategoricalMatrix m;
  if (!r->Has(dataset)) return m;
  DRIFTRUN_ASSIGN_OR_RETURN(H5DatasetInfo info, r->Info(dataset));
  if (info.kind != H5Kind::kInteger || info.dims.size() != 2) {
    return Status::Data("'" + path + "' dataset '" + dataset +
                        "' must be a 2-D integer array [rows, columns]");
  }
  m.rows = info.dims[0];
  m.dim = info.dims[1];
  DRIFTRUN_RETURN_IF_ERROR(r->ReadRange(dataset, 0, m.rows, &m.v));
  m.names = ColumnNames(*r, "categorical_names", m.dim, "c");
  return m;
}

}  // namespace driftrun
