#include "dataio/tabular_data.h"

#include "common/text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace driftrun {

namespace {

// A column count from a file's header (any number, in a few bytes) is checked
// before a name is made for each column: the names of a row must fit the HDF5
// read limit as its values must.
Status CheckColumnCount(const H5Reader& r, const std::string& dataset, int64_t dim) {
  const int64_t per_column = static_cast<int64_t>(sizeof(std::string));
  if (dim < 0 || dim > H5ReadLimitBytes() / per_column) {
    return Status::Data("'" + r.path() + "' dataset '" + dataset + "' declares " + std::to_string(dim) +
                        " values per row, over the read limit; the file is damaged or too wide to read");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::string>> ReadColumnNames(const H5Reader& r, const std::string& dataset,
                                                 const char* attr, int64_t dim, const char* prefix,
                                                 bool* named) {
  *named = false;
  DRIFTRUN_RETURN_IF_ERROR(CheckColumnCount(r, dataset, dim));
  for (const std::string& object : {dataset, std::string("/")}) {
    auto names = r.AttrStrings(object, attr);
    if (!names.ok()) continue;
    if (static_cast<int64_t>(names.value().size()) != dim) {
      return Status::Data("'" + r.path() + "' attribute '" + attr + "' of '" + object + "' has " +
                          std::to_string(names.value().size()) + " names but '" + dataset + "' has " +
                          std::to_string(dim) + " columns; give one name per column");
    }
    std::set<std::string> seen;
    for (const auto& n : names.value()) {
      if (!seen.insert(n).second) {
        return Status::Data("'" + r.path() + "' attribute '" + attr + "' of '" + object + "' names column '" +
                            EscapeForConsole(n) +
                            "' twice; columns are matched by name, so each needs a unique one");
      }
    }
    *named = true;
    return names.value();
  }
  std::vector<std::string> out;
  for (int64_t j = 0; j < dim; ++j) out.push_back(prefix + std::to_string(j));
  return out;
}

namespace {

std::string JoinNames(const std::vector<std::string>& v) {
  std::string s;
  const size_t shown = std::min<size_t>(v.size(), 10);
  for (size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + EscapeForConsole(v[i]);
  if (v.size() > shown) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

}  // namespace

Result<std::vector<int64_t>> MatchColumns(const std::vector<std::string>& want,
                                          const std::vector<std::string>& have, const std::string& where,
                                          const std::string& whose) {
  std::map<std::string, int64_t> at;
  std::vector<std::string> dup, missing, extra;
  for (size_t j = 0; j < have.size(); ++j) {
    if (!at.emplace(have[j], static_cast<int64_t>(j)).second) dup.push_back(have[j]);
  }
  if (!dup.empty()) {
    return Status::Data(where + " names some columns twice (" + JoinNames(dup) +
                        "); columns are matched by name, so each needs a unique one");
  }
  std::vector<int64_t> order;
  std::set<std::string> wanted(want.begin(), want.end());
  for (const auto& n : want) {
    auto it = at.find(n);
    if (it == at.end()) {
      missing.push_back(n);
    } else {
      order.push_back(it->second);
    }
  }
  for (const auto& n : have) {
    if (!wanted.count(n)) extra.push_back(n);
  }
  if (!missing.empty() || !extra.empty()) {
    std::string msg = where + " does not have the columns of " + whose + " (matched by name):";
    if (!missing.empty()) msg += " missing " + JoinNames(missing) + ";";
    if (!extra.empty()) msg += " not in " + whose + ": " + JoinNames(extra) + ";";
    return Status::Data(msg + " give the file the same columns (attribute feature_names)");
  }
  return order;
}

Status AlignColumns(const std::vector<std::string>& want, const std::vector<std::string>& file_names,
                    bool file_named, const std::string& where, int64_t rows, std::vector<float>* x,
                    std::vector<std::string>* warnings, const std::string& whose) {
  if (want.empty()) {
    if (file_named && warnings) {
      warnings->push_back(where + ": " + whose +
                          " keeps no column names (its training file had no feature_names), so the " +
                          std::to_string(file_names.size()) +
                          " columns are taken by position; retrain on a file with feature_names to have them "
                          "matched by name");
    }
    return Status::Ok();
  }
  if (!file_named) {
    if (warnings) {
      warnings->push_back(where + " has no feature_names: its " + std::to_string(file_names.size()) +
                          " columns are taken in the training order (" + JoinNames(want) + ")");
    }
    return Status::Ok();
  }
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<int64_t> order, MatchColumns(want, file_names, where, whose));
  if (!IsIdentity(order)) SelectColumns(x, rows, static_cast<int64_t>(file_names.size()), order);
  return Status::Ok();
}

bool IsIdentity(const std::vector<int64_t>& order) {
  for (size_t j = 0; j < order.size(); ++j)
    if (order[j] != static_cast<int64_t>(j)) return false;
  return true;
}

void SelectColumns(std::vector<float>* x, int64_t rows, int64_t width, const std::vector<int64_t>& order) {
  const int64_t w = static_cast<int64_t>(order.size());
  std::vector<float> out(static_cast<size_t>(rows * w));
  for (int64_t i = 0; i < rows; ++i) {
    const float* src = x->data() + i * width;
    float* dst = out.data() + i * w;
    for (int64_t j = 0; j < w; ++j) dst[j] = src[order[j]];
  }
  x->swap(out);
}

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
  if (!spec.text && spec.rank == 2) {
    DRIFTRUN_ASSIGN_OR_RETURN(m.feature_names,
                              ReadColumnNames(file, spec.features, "feature_names", m.dim, "f", &m.named));
  } else if (!spec.text) {
    DRIFTRUN_RETURN_IF_ERROR(CheckColumnCount(file, spec.features, m.dim));
    for (int64_t j = 0; j < m.dim; ++j) m.feature_names.push_back("f" + std::to_string(j));  // pixels
  }
  return m;
}

// Regression labels at or beyond this overflow a float32 squared error.
constexpr float kMaxLabel = 1e19F;

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
        return Status::Data(
            "'" + file.path() + "' '" + spec.labels + "' row " + std::to_string(begin + i) + ": class id " +
            std::to_string(c) +
            (classes > 0
                 ? " outside [0, " + std::to_string(classes) + "); fix the labels or set model.classes"
                 : std::string(" is negative; class ids are 0, 1, 2, ...: fix the labels")));
      }
    }
  } else {
    DRIFTRUN_RETURN_IF_ERROR(file.ReadRange(spec.labels, begin, count, &out->y));
    for (size_t i = 0; i < out->y.size(); ++i) {
      const std::string where = "'" + file.path() + "' '" + spec.labels + "' row " +
                                std::to_string(begin + static_cast<int64_t>(i) / meta.label_dim);
      if (!std::isfinite(out->y[i]))
        return Status::Data(where + ": label is NaN or Inf; drop or fix that row");
      // Found by a stranger: a label of 1e30 failed training (exit 4, "loss is
      // Inf") as if the model diverged; its squared error overflows float32.
      if (std::fabs(out->y[i]) >= kMaxLabel) {
        char v[32];
        std::snprintf(v, sizeof(v), "%g", static_cast<double>(out->y[i]));
        return Status::Data(where + ": label " + v +
                            " is too large to train on (its squared error overflows float32; |label| must be "
                            "below 1e19): fix that row, or rescale the labels");
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
  DRIFTRUN_ASSIGN_OR_RETURN(m.names, ReadColumnNames(*r, dataset, "feature_names", m.dim, "f", &m.named));
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
  bool named = false;
  DRIFTRUN_ASSIGN_OR_RETURN(m.names, ReadColumnNames(*r, dataset, "categorical_names", m.dim, "c", &named));
  return m;
}

}  // namespace driftrun
