#include "trainers/preprocess.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "comm/collectives.h"
#include "dataio/h5_io.h"
#include "kernels/column_stats.h"
#include "kernels/histogram.h"
#include "kernels/quantiles.h"
#include "trainers/distributed_stats.h"

namespace driftrun {

Result<PreprocessOptions> PreprocessOptions::FromConfig(const Config& c) {
  PreprocessOptions o;
  o.defaults.impute = c.Str("preprocess.impute");
  o.defaults.fill_value = c.Float("preprocess.fill_value");
  o.defaults.scale = c.Str("preprocess.scale");
  o.defaults.clip_sigma = c.Float("preprocess.clip_sigma");
  if (o.defaults.clip_sigma < 0) {
    return Status::Usage(c.Origin("preprocess.clip_sigma") + ": key 'preprocess.clip_sigma' must be >= 0");
  }
  o.bf16 = c.Str("preprocess.output") == "bf16";
  o.columns = c.StrList("preprocess.columns");
  // Each entry's form, key and value now (config and train say the same);
  // whether its column exists, once the data's names are known.
  std::vector<std::string> named;
  for (const std::string& e : o.columns) named.push_back(e.substr(0, e.find(':')));
  DRIFTRUN_RETURN_IF_ERROR(o.PerColumn(named).status());
  return o;
}

Result<std::vector<ColumnTransformOptions>> PreprocessOptions::PerColumn(
    const std::vector<std::string>& names) const {
  std::vector<ColumnTransformOptions> out(names.size(), defaults);
  for (const std::string& o : columns) {
    const auto colon = o.find(':'), eq = o.find('=');
    if (colon == std::string::npos || eq == std::string::npos || eq < colon) {
      return Status::Usage("preprocess.columns entry '" + o + "' must look like \"NAME:key=value\"");
    }
    const std::string name = o.substr(0, colon), key = o.substr(colon + 1, eq - colon - 1),
                      val = o.substr(eq + 1);
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      return Status::Usage("preprocess.columns entry '" + o + "' names column '" + name +
                           "', which the data does not have");
    }
    ColumnTransformOptions& c = out[it - names.begin()];
    char* end = nullptr;
    if (key == "impute" && (val == "mean" || val == "median" || val == "zero" || val == "constant")) {
      c.impute = val;
    } else if (key == "scale" && (val == "standard" || val == "minmax" || val == "none")) {
      c.scale = val;
    } else if ((key == "fill_value" || key == "clip_sigma") && (std::strtod(val.c_str(), &end), *end == 0)) {
      (key == "fill_value" ? c.fill_value : c.clip_sigma) = std::strtod(val.c_str(), nullptr);
    } else {
      return Status::Usage("preprocess.columns entry '" + o +
                           "': key must be impute (mean|median|zero|constant), scale (standard|minmax|none), "
                           "fill_value or clip_sigma with a number");
    }
  }
  return out;
}

Result<at::Tensor> ApplyPreprocessor(const Preprocessor& pre, const at::Tensor& x, TransformReport* report) {
  at::Tensor out;
  DRIFTRUN_ASSIGN_OR_RETURN(TransformReport r, FusedTransform(x, pre.params, pre.bf16, &out));
  if (report) *report = std::move(r);
  return out;
}

Result<FitResult> FitPreprocessor(Communicator& comm, const at::Tensor& train_x,
                                  const std::vector<int64_t>& cls, const TabularSpec& spec,
                                  const TabularMeta& meta, const PreprocessOptions& opts) {
  return FitPreprocessorChunked(
      comm, [&](const ChunkVisitor& visit) { return visit(train_x); }, cls, spec, meta, opts);
}

namespace {

// This rank's column moments over every piece, merged.
Result<std::vector<kmath::Moments>> LocalMoments(const ChunkPass& pass, int64_t dim) {
  std::vector<kmath::Moments> stats(static_cast<size_t>(dim));
  Status st = pass([&](const at::Tensor& x) -> Status {
    DRIFTRUN_ASSIGN_OR_RETURN(std::vector<kmath::Moments> part, ColumnStats(x));
    for (size_t j = 0; j < stats.size() && j < part.size(); ++j) stats[j].Merge(part[j]);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return stats;
}

}  // namespace

Result<FitResult> FitPreprocessorChunked(Communicator& comm, const ChunkPass& pass,
                                         const std::vector<int64_t>& cls, const TabularSpec& spec,
                                         const TabularMeta& meta, const PreprocessOptions& opts) {
  auto per_column = opts.PerColumn(meta.feature_names);
  if (!per_column.ok()) return per_column.status();
  auto local = LocalMoments(pass, meta.dim);
  DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(comm, local.status()));
  std::vector<kmath::Moments> stats = local.take();
  DRIFTRUN_RETURN_IF_ERROR(AllReduceMoments(comm, &stats));
  for (size_t j = 0; j < stats.size(); ++j) {
    if (stats[j].n == 0) {
      return Status::Data(
          "'" + spec.path + "' '" + spec.features + "' column " + meta.feature_names[j] + " (index " +
          std::to_string(j) +
          ") has no finite values in the training rows (all NaN or infinite); drop the column or fill it");
    }
  }
  std::vector<double> median(stats.size(), NAN);
  const bool need_median = std::any_of(per_column.value().begin(), per_column.value().end(),
                                       [](const ColumnTransformOptions& c) { return c.impute == "median"; });
  if (need_median) {
    at::Tensor edges = FineEdges(stats);
    at::Tensor c;
    Status counted = pass([&](const at::Tensor& x) -> Status {
      DRIFTRUN_ASSIGN_OR_RETURN(at::Tensor part, Histograms(x, edges));
      c = c.defined() ? c + part : part;
      return Status::Ok();
    });
    DRIFTRUN_RETURN_IF_ERROR(AgreeStatus(comm, counted));
    DRIFTRUN_RETURN_IF_ERROR(AllReduceCounts(comm, &c));
    auto q = QuantilesFromCounts(c, edges, {0.5});
    for (size_t j = 0; j < q.size(); ++j) median[j] = q[j][0];
  }
  FitResult r;
  r.pre.params = MakeTransform(stats, median, per_column.value(), meta.feature_names, &r.pre.notes);
  r.warnings = OutlierWarnings(stats, meta.feature_names);
  r.pre.notes.insert(r.pre.notes.end(), r.warnings.begin(), r.warnings.end());
  r.pre.bf16 = opts.bf16;
  if (meta.named) r.pre.names = meta.feature_names;
  std::vector<double> maxlab = {-1};
  for (int64_t c : cls) maxlab[0] = std::max(maxlab[0], static_cast<double>(c));
  DRIFTRUN_RETURN_IF_ERROR(AllReduceDoubles(comm, &maxlab, ReduceOp::kMax));
  if (spec.classification) r.classes = static_cast<int64_t>(maxlab[0]) + 1;
  return r;
}

}  // namespace driftrun
