#include "dataio/tabular_set.h"

#include <algorithm>

namespace driftrun {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// How `names` (a later file's columns) meet `first` (the first file's): the
// order to read them in, empty when already the same. Files with and without
// names do not mix.
Result<std::vector<int64_t>> MatchToFirst(const TabularMeta& first, const TabularMeta& m,
                                          const std::string& path, const std::string& first_path) {
  if (m.named != first.named) {
    return Status::Data("'" + path + "' " + (m.named ? "has" : "has no") + " feature_names but '" +
                        first_path + "' " + (first.named ? "has" : "has none") +
                        "; name the columns of every training file (or of none)");
  }
  if (!m.named) return std::vector<int64_t>{};
  DRIFTRUN_ASSIGN_OR_RETURN(std::vector<int64_t> order,
                            MatchColumns(first.feature_names, m.feature_names, "'" + path + "'",
                                         "the first training file ('" + first_path + "')"));
  if (IsIdentity(order)) order.clear();
  return order;
}

}  // namespace

Result<std::unique_ptr<TabularSet>> TabularSet::Open(const std::vector<std::string>& paths,
                                                     const TabularSpec& spec) {
  if (paths.empty()) return Status::Usage("data.train is empty; name at least one training HDF5 file");
  std::unique_ptr<TabularSet> set(new TabularSet());
  set->spec_ = spec;
  int64_t offset = 0;
  for (const std::string& p : paths) {
    Part part;
    part.path = p;
    DRIFTRUN_ASSIGN_OR_RETURN(part.file, H5Reader::Open(p));
    DRIFTRUN_ASSIGN_OR_RETURN(part.meta, InspectTabular(*part.file, spec));
    if (!set->parts_.empty()) {
      const Part& first = set->parts_.front();
      if (part.meta.shape != first.meta.shape || part.meta.label_dim != first.meta.label_dim) {
        return Status::Data("'" + p + "' has rows of shape " + ShapeText(part.meta.shape) + " with " +
                            std::to_string(part.meta.label_dim) + " target(s), but '" + first.path +
                            "' has " + ShapeText(first.meta.shape) + " with " +
                            std::to_string(first.meta.label_dim) +
                            "; every training file needs the same layout");
      }
      if (!spec.text && spec.rank == 2) {
        DRIFTRUN_ASSIGN_OR_RETURN(part.order, MatchToFirst(first.meta, part.meta, p, first.path));
      }
    }
    part.offset = offset;
    offset += part.meta.rows;
    set->parts_.push_back(std::move(part));
  }
  set->meta_ = set->parts_.front().meta;
  set->meta_.rows = offset;
  return set;
}

Status TabularSet::Reorder(const std::vector<std::string>& names, const std::string& whose) {
  if (!meta_.named || spec_.text || spec_.rank != 2 || names == meta_.feature_names) return Status::Ok();
  std::vector<std::vector<int64_t>> orders;  // all checked before any changes: a refusal changes nothing
  for (const Part& p : parts_) {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<int64_t> order,
                              MatchColumns(names, p.meta.feature_names, "'" + p.path + "'", whose));
    if (IsIdentity(order)) order.clear();
    orders.push_back(std::move(order));
  }
  for (size_t i = 0; i < parts_.size(); ++i) parts_[i].order = std::move(orders[i]);
  meta_.feature_names = names;
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> TabularSet::Identities() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Part& p : parts_) out.emplace_back(p.path, p.file->Identity());
  return out;
}

std::string TabularSet::Describe() const {
  std::string s = "'" + parts_.front().path + "'";
  if (parts_.size() > 1) s += " (+" + std::to_string(parts_.size() - 1) + " more files)";
  return s;
}

TrainValSplit TabularSet::Split(double val_fraction) const {
  TrainValSplit all;
  for (const Part& p : parts_) {
    TrainValSplit one = SplitTrainVal(p.meta.rows, val_fraction);
    for (int64_t r : one.train) all.train.push_back(p.offset + r);
    for (int64_t r : one.val) all.val.push_back(p.offset + r);
  }
  return all;
}

Status TabularSet::ReadRange(int64_t begin, int64_t count, int64_t classes, TabularRows* out) const {
  *out = TabularRows();
  const int64_t end = begin + count;
  if (begin < 0 || count < 0 || end > meta_.rows) {
    return Status::Data("rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") are outside " +
                        Describe() + " (" + std::to_string(meta_.rows) + " rows)");
  }
  for (const Part& p : parts_) {
    const int64_t b = std::max(begin, p.offset), e = std::min(end, p.offset + p.meta.rows);
    if (b >= e) continue;
    TabularSpec spec = spec_;
    spec.path = p.path;
    TabularRows part;
    DRIFTRUN_RETURN_IF_ERROR(ReadTabularRange(*p.file, spec, p.meta, b - p.offset, e - b, classes, &part));
    DRIFTRUN_RETURN_IF_ERROR(p.file->CheckUnchanged());
    if (!p.order.empty()) SelectColumns(&part.x, part.rows, p.meta.dim, p.order);
    out->rows += part.rows;
    out->x.insert(out->x.end(), part.x.begin(), part.x.end());
    out->y.insert(out->y.end(), part.y.begin(), part.y.end());
    out->cls.insert(out->cls.end(), part.cls.begin(), part.cls.end());
    for (auto& t : part.text) out->text.push_back(std::move(t));
  }
  return Status::Ok();
}

Result<FeatureMatrix> ReadFeatureMatrices(const std::vector<std::string>& paths, const std::string& dataset) {
  if (paths.empty()) return Status::Usage("no training file given");
  DRIFTRUN_ASSIGN_OR_RETURN(FeatureMatrix all, ReadFeatureMatrix(paths[0], dataset));
  for (size_t i = 1; i < paths.size(); ++i) {
    DRIFTRUN_ASSIGN_OR_RETURN(FeatureMatrix m, ReadFeatureMatrix(paths[i], dataset));
    if (m.dim != all.dim) {
      return Status::Data("'" + paths[i] + "' dataset '" + dataset + "' has " + std::to_string(m.dim) +
                          " columns but '" + paths[0] + "' has " + std::to_string(all.dim));
    }
    TabularMeta first, other;
    first.named = all.named;
    first.feature_names = all.names;
    other.named = m.named;
    other.feature_names = m.names;
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<int64_t> order, MatchToFirst(first, other, paths[i], paths[0]));
    if (!order.empty()) SelectColumns(&m.x, m.rows, m.dim, order);
    all.x.insert(all.x.end(), m.x.begin(), m.x.end());
    all.rows += m.rows;
  }
  return all;
}

}  // namespace driftrun
