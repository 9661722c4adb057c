// Several tabular HDF5 files read as one table: `data.train` as a list (the
// retraining service's window: the base training file plus the newest labelled
// batches). Rows are numbered across the files in list order; a range that
// spans files is one hyperslab read per file.
//
// Every file must have the same per-row feature shape and label width as the
// first. Feature columns meet the first file's by name: a file with the same
// columns in another order is reordered as it is read; one with other columns
// is refused (Status::Data naming the file and the columns). Files without
// feature_names are taken by position (all of them, or none: mixing is
// refused).
//
// Holdout: each file is split by SplitTrainVal on its own row numbers, so a
// batch holds out the same rows whatever window it is part of, and a list of
// one file splits exactly as that file alone.
//
// Thread-safety: none (HDF5 handles); one object per rank.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "dataio/h5_io.h"
#include "dataio/sharding.h"
#include "dataio/tabular_data.h"

namespace driftrun {

class TabularSet {
 public:
  // spec.path is ignored: `paths` (at least one) are read.
  static Result<std::unique_ptr<TabularSet>> Open(const std::vector<std::string>& paths,
                                                  const TabularSpec& spec);

  // rows: all files together; shape, names: the first file's.
  const TabularMeta& meta() const { return meta_; }
  size_t files() const { return parts_.size(); }
  const std::string& path(size_t i) const { return parts_[i].path; }
  int64_t offset(size_t i) const { return parts_[i].offset; }  // global id of the file's first row
  int64_t rows(size_t i) const { return parts_[i].meta.rows; }
  // Each file's path and H5Reader::Identity() when it was opened, in list order.
  std::vector<std::pair<std::string, std::string>> Identities() const;
  // "'a.h5'" or "'a.h5' (+2 more files)": for messages.
  std::string Describe() const;

  // Each file's SplitTrainVal(rows, val_fraction), in global row ids, sorted.
  TrainValSplit Split(double val_fraction) const;

  // Reads the columns in the order of `names` from now on (a checkpoint's, or
  // the training data's for data.val), matched by name: Status::Data naming
  // the file when its columns are other ones. Nothing to do for files without
  // feature_names (taken by position) or data that is not a [rows, D] table.
  Status Reorder(const std::vector<std::string>& names, const std::string& whose);

  // Rows [begin, begin + count) of the whole table (ReadTabularRange per file;
  // classes as there), columns in the first file's order (or Reorder's).
  Status ReadRange(int64_t begin, int64_t count, int64_t classes, TabularRows* out) const;

 private:
  struct Part {
    std::string path;
    std::unique_ptr<H5Reader> file;
    TabularMeta meta;
    int64_t offset = 0;
    std::vector<int64_t> order;  // this file's columns in meta_'s order (empty: as is)
  };
  TabularSpec spec_;
  TabularMeta meta_;
  std::vector<Part> parts_;
};

// The feature matrices of several files, rows appended in list order, columns
// matched to the first file's by name (as TabularSet). Errors name the file.
Result<FeatureMatrix> ReadFeatureMatrices(const std::vector<std::string>& paths, const std::string& dataset);

}  // namespace driftrun
