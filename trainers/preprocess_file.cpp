#include "trainers/preprocess_file.h"

#include "common/guard.h"

#include <ATen/ATen.h>

#include <cstdio>

#include "comm/local_communicator.h"
#include "dataio/h5_io.h"
#include "dataio/tabular_data.h"
#include "dataio/tabular_set.h"
#include "trainers/preprocess.h"

namespace driftrun {
namespace {

// Copies dataset `labels` of `in` (integer or float) into `w` when present.
Status CopyLabels(const std::string& in, const std::string& labels, H5Writer& w) {
  auto r = H5Reader::Open(in);
  if (!r.ok() || !r.value()->Has(labels)) return Status::Ok();
  auto info = r.value()->Info(labels);
  if (info.ok() && info.value().kind == H5Kind::kInteger) {
    std::vector<int64_t> v;
    DRIFTRUN_RETURN_IF_ERROR(r.value()->ReadRange(labels, 0, info.value().rows(), &v));
    return w.Write(labels, info.value().dims, v.data());
  }
  if (info.ok() && info.value().kind == H5Kind::kFloat) {
    std::vector<float> v;
    DRIFTRUN_RETURN_IF_ERROR(r.value()->ReadRange(labels, 0, info.value().rows(), &v));
    return w.Write(labels, info.value().dims, v.data());
  }
  return Status::Ok();
}

}  // namespace

static Result<Preprocessor> FitPreprocessorOnFileImpl(const Config& cfg) {
  DRIFTRUN_ASSIGN_OR_RETURN(PreprocessOptions opts, PreprocessOptions::FromConfig(cfg));
  const std::string features = cfg.Str("data.features");
  const std::vector<std::string>& paths = cfg.StrList("data.train");
  auto train = ReadFeatureMatrices(paths, features);
  if (!train.ok()) return train.status().WithContext("[data] train");
  TabularSpec spec;
  spec.path = paths.front();
  spec.features = features;
  TabularMeta meta;
  meta.rows = train.value().rows;
  meta.dim = train.value().dim;
  meta.feature_names = train.value().names;
  meta.named = train.value().named;
  LocalCommunicator local;
  at::Tensor x = at::from_blob(train.value().x.data(), {meta.rows, meta.dim}, at::kFloat);
  DRIFTRUN_ASSIGN_OR_RETURN(FitResult fit, FitPreprocessor(local, x, {}, spec, meta, opts));
  return fit.pre;
}

static Result<PreprocessFileReport> PreprocessFileImpl(Preprocessor pre, const std::string& in,
                                                       const std::string& out, const std::string& features,
                                                       const std::string& labels, double missing_rise) {
  DRIFTRUN_ASSIGN_OR_RETURN(FeatureMatrix m, ReadFeatureMatrix(in, features));
  PreprocessFileReport r;
  const std::string where = "'" + in + "' dataset '" + features + "'";
  if (m.named && !pre.names.empty()) {
    // By name: reordered to the training order, which the output keeps.
    DRIFTRUN_RETURN_IF_ERROR(AlignColumns(pre.names, m.names, true, where, m.rows, &m.x, &r.warnings));
    m.names = pre.names;
    m.dim = pre.dim();
  }
  if (m.dim != pre.dim()) {
    return Status::Data("'" + in + "' has " + std::to_string(m.dim) +
                        " features; the transform was fitted on " + std::to_string(pre.dim()));
  }
  if (!m.named)
    DRIFTRUN_RETURN_IF_ERROR(AlignColumns(pre.names, m.names, false, where, m.rows, &m.x, &r.warnings));
  pre.bf16 = false;  // HDF5 has no bfloat16: the file holds float32
  TransformReport rep;
  DRIFTRUN_ASSIGN_OR_RETURN(
      at::Tensor y, ApplyPreprocessor(pre, at::from_blob(m.x.data(), {m.rows, m.dim}, at::kFloat), &rep));
  y = y.contiguous();
  DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(out));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/features", {m.rows, m.dim}, y.data_ptr<float>()));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrStrings("/", "feature_names", m.names));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "driftrun_output", "preprocessed"));  // what --out may replace
  DRIFTRUN_RETURN_IF_ERROR(CopyLabels(in, labels, *w));
  const int64_t d = pre.dim();
  DRIFTRUN_RETURN_IF_ERROR(WritePreprocessor(*w, "/preprocess", pre));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/preprocess/imputed", {d}, rep.imputed.data()));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/preprocess/clipped", {d}, rep.clipped.data()));
  DRIFTRUN_RETURN_IF_ERROR(w->Commit());
  r.rows = m.rows;
  r.names = m.names;
  r.imputed.assign(rep.imputed.begin(), rep.imputed.end());
  r.clipped.assign(rep.clipped.begin(), rep.clipped.end());
  WarnImputed(r.imputed, m.rows, missing_rise, m.names,
              "their preprocessed values are the training fill value", &r.warnings);
  return r;
}

void WarnImputed(const std::vector<int64_t>& imputed, int64_t rows, double limit,
                 const std::vector<std::string>& names, const std::string& consequence,
                 std::vector<std::string>* warnings) {
  if (rows == 0) return;
  for (size_t j = 0; j < imputed.size(); ++j) {
    const double share = static_cast<double>(imputed[j]) / static_cast<double>(rows);
    if (share <= limit) continue;
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "%.1f%% of its values were missing or +-Inf and imputed (more than "
                  "drift.missing_rise = %.3g); ",
                  100 * share, limit);
    warnings->push_back("column " + (j < names.size() ? names[j] : "f" + std::to_string(j)) + ": " + buf +
                        consequence);
  }
}

Result<Preprocessor> FitPreprocessorOnFile(const Config& cfg) {
  return Guarded("fitting the preprocessing", Code::kData, [&] { return FitPreprocessorOnFileImpl(cfg); });
}

Result<PreprocessFileReport> PreprocessFile(Preprocessor pre, const std::string& in, const std::string& out,
                                            const std::string& features, const std::string& labels,
                                            double missing_rise) {
  return Guarded("preprocessing '" + in + "'", Code::kData,
                 [&] { return PreprocessFileImpl(std::move(pre), in, out, features, labels, missing_rise); });
}

}  // namespace driftrun
