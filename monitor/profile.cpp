#include "monitor/profile.h"

#include "common/guard.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "dataio/h5_io.h"
#include "kernels/column_stats.h"
#include "kernels/histogram.h"
#include "kernels/quantiles.h"

namespace driftrun {
namespace {

constexpr const char* kFormat = "driftrun-profile-1";

at::Tensor EdgesTensor(const std::vector<std::vector<double>>& edges) {
  const int64_t d = static_cast<int64_t>(edges.size()), n = d ? static_cast<int64_t>(edges[0].size()) : 0;
  at::Tensor t = at::empty({d, n}, at::kFloat);
  float* p = t.data_ptr<float>();
  for (int64_t j = 0; j < d; ++j) {
    for (int64_t k = 0; k < n; ++k) p[j * n + k] = static_cast<float>(edges[j][k]);
  }
  return t;
}

std::vector<double> Flatten(const std::vector<FeatureProfile>& f, std::vector<double> FeatureProfile::*m) {
  std::vector<double> out;
  for (const auto& x : f) out.insert(out.end(), (x.*m).begin(), (x.*m).end());
  return out;
}

}  // namespace

Result<std::vector<std::vector<double>>> CountsAt(const at::Tensor& x,
                                                  const std::vector<std::vector<double>>& edges) {
  DRIFTRUN_ASSIGN_OR_RETURN(at::Tensor c, Histograms(x, EdgesTensor(edges)));
  const int64_t d = c.size(0), slots = c.size(1);
  std::vector<std::vector<double>> out(static_cast<size_t>(d));
  const int64_t* p = c.data_ptr<int64_t>();
  for (int64_t j = 0; j < d; ++j) out[j].assign(p + j * slots, p + j * slots + slots - 1);
  return out;
}

static Result<Profile> BuildProfileImpl(const at::Tensor& x, const std::vector<std::string>& names,
                                        const std::string& source) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto stats, ColumnStats(x));
  at::Tensor fine = FineEdges(stats);
  DRIFTRUN_ASSIGN_OR_RETURN(at::Tensor counts, Histograms(x, fine));
  std::vector<double> probs;
  for (int k = 0; k <= kFineQuantiles; ++k) probs.push_back(static_cast<double>(k) / kFineQuantiles);
  auto q = QuantilesFromCounts(counts, fine, probs);
  Profile p;
  p.rows = x.size(0);
  p.source = source;
  std::vector<std::vector<double>> psi_edges, fine_edges;
  for (size_t j = 0; j < stats.size(); ++j) {
    FeatureProfile f;
    f.name = names[j];
    f.count = stats[j].n;
    f.missing = static_cast<double>(p.rows) - stats[j].n;
    f.mean = stats[j].mean;
    f.std = stats[j].n > 0 ? std::sqrt(stats[j].m2 / stats[j].n) : 0;
    f.min = stats[j].n > 0 ? stats[j].min : 0;
    f.max = stats[j].n > 0 ? stats[j].max : 0;
    for (int k = 0; k <= kFineQuantiles; ++k) f.fine_edges.push_back(std::isnan(q[j][k]) ? 0.0 : q[j][k]);
    for (int k = 1; k < kPsiBins; ++k) f.psi_edges.push_back(f.fine_edges[k * kFineQuantiles / kPsiBins]);
    psi_edges.push_back(f.psi_edges);
    fine_edges.push_back(f.fine_edges);
    p.features.push_back(std::move(f));
  }
  DRIFTRUN_ASSIGN_OR_RETURN(auto psi_counts, CountsAt(x, psi_edges));
  DRIFTRUN_ASSIGN_OR_RETURN(auto fine_counts, CountsAt(x, fine_edges));
  for (size_t j = 0; j < p.features.size(); ++j) {
    p.features[j].psi_counts = psi_counts[j];
    p.features[j].fine_counts = fine_counts[j];
  }
  return p;
}

std::vector<CategoryProfile> ProfileCategories(const std::vector<int64_t>& v, int64_t rows,
                                               const std::vector<std::string>& names) {
  const int64_t cols = static_cast<int64_t>(names.size());
  std::vector<CategoryProfile> out;
  for (int64_t j = 0; j < cols; ++j) {
    std::vector<int64_t> col;
    for (int64_t i = 0; i < rows; ++i) col.push_back(v[i * cols + j]);
    std::sort(col.begin(), col.end());
    CategoryProfile c;
    c.name = names[j];
    for (size_t i = 0; i < col.size();) {
      size_t k = i;
      while (k < col.size() && col[k] == col[i]) ++k;
      c.values.push_back(col[i]);
      c.counts.push_back(static_cast<double>(k - i));
      i = k;
    }
    out.push_back(std::move(c));
  }
  return out;
}

Status WriteProfile(const std::string& path, const Profile& p) {
  DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(path));
  const int64_t d = static_cast<int64_t>(p.features.size());
  std::vector<std::string> names;
  for (const auto& f : p.features) names.push_back(f.name);
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "format", kFormat));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrDouble("/", "rows", static_cast<double>(p.rows)));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrString("/", "source", p.source));
  DRIFTRUN_RETURN_IF_ERROR(w->AttrStrings("/", "feature_names", names));
  for (auto [name, m] :
       std::vector<std::pair<const char*, double FeatureProfile::*>>{{"count", &FeatureProfile::count},
                                                                     {"missing", &FeatureProfile::missing},
                                                                     {"mean", &FeatureProfile::mean},
                                                                     {"std", &FeatureProfile::std},
                                                                     {"min", &FeatureProfile::min},
                                                                     {"max", &FeatureProfile::max}}) {
    std::vector<double> v;
    for (const auto& f : p.features) v.push_back(f.*m);
    DRIFTRUN_RETURN_IF_ERROR(w->Write(std::string("/") + name, {d}, v.data()));
  }
  DRIFTRUN_RETURN_IF_ERROR(
      w->Write("/psi_edges", {d, kPsiBins - 1}, Flatten(p.features, &FeatureProfile::psi_edges).data()));
  DRIFTRUN_RETURN_IF_ERROR(
      w->Write("/psi_counts", {d, kPsiBins}, Flatten(p.features, &FeatureProfile::psi_counts).data()));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/fine_edges", {d, kFineQuantiles + 1},
                                    Flatten(p.features, &FeatureProfile::fine_edges).data()));
  DRIFTRUN_RETURN_IF_ERROR(w->Write("/fine_counts", {d, kFineQuantiles + 2},
                                    Flatten(p.features, &FeatureProfile::fine_counts).data()));
  if (!p.categorical.empty()) {
    std::vector<int64_t> offsets = {0}, values;
    std::vector<double> counts;
    std::vector<std::string> names;
    for (const auto& c : p.categorical) {
      names.push_back(c.name);
      values.insert(values.end(), c.values.begin(), c.values.end());
      counts.insert(counts.end(), c.counts.begin(), c.counts.end());
      offsets.push_back(static_cast<int64_t>(values.size()));
    }
    const int64_t n = static_cast<int64_t>(values.size()), nc = static_cast<int64_t>(offsets.size());
    DRIFTRUN_RETURN_IF_ERROR(w->AttrStrings("/", "categorical_names", names));
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/cat_offsets", {nc}, offsets.data()));
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/cat_values", {n}, values.data()));
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/cat_counts", {n}, counts.data()));
  }
  return w->Commit();
}

bool IsProfileFile(const std::string& path) {
  return H5RootAttr(path, "format") == std::string(kFormat);
}

Result<Profile> ReadProfile(const std::string& path) {
  const std::string where = "reference profile '" + path + "'";
  auto bad = [&](const std::string& what) {
    return Status::Data(where + " is corrupt (" + what + "); re-create it with `driftrun profile`");
  };
  auto r_or = H5Reader::Open(path);
  if (!r_or.ok()) return r_or.status().WithContext(where);
  auto& r = *r_or.value();
  auto fmt = r.AttrString("/", "format");
  if (!fmt.ok() || fmt.value() != kFormat) return bad("no driftrun-profile-1 format attribute");
  auto names = r.AttrStrings("/", "feature_names");
  auto rows = r.AttrDouble("/", "rows");
  if (!names.ok() || !rows.ok()) return bad("feature names or row count missing");
  // A whole number in [0, 2^53]: NaN or a huge value is damage, not an undefined cast.
  const double nrows = rows.value();
  if (!(nrows >= 0 && nrows <= 9007199254740992.0) || nrows != std::floor(nrows)) {
    return bad("row count is not a count");
  }
  const int64_t d = static_cast<int64_t>(names.value().size());
  Profile p;
  p.rows = static_cast<int64_t>(nrows);
  auto src = r.AttrString("/", "source");
  p.source = src.ok() ? src.value() : "";
  p.features.resize(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) p.features[j].name = names.value()[j];
  for (auto [name, m] :
       std::vector<std::pair<const char*, double FeatureProfile::*>>{{"/count", &FeatureProfile::count},
                                                                     {"/missing", &FeatureProfile::missing},
                                                                     {"/mean", &FeatureProfile::mean},
                                                                     {"/std", &FeatureProfile::std},
                                                                     {"/min", &FeatureProfile::min},
                                                                     {"/max", &FeatureProfile::max}}) {
    std::vector<double> v;
    auto info = r.Info(name);
    if (!info.ok() || info.value().rows() != d || !r.ReadRange(name, 0, d, &v).ok())
      return bad(std::string(name));
    for (int64_t j = 0; j < d; ++j) p.features[j].*m = v[j];
  }
  for (auto [name, m, width] :
       std::vector<std::tuple<const char*, std::vector<double> FeatureProfile::*, int>>{
           {"/psi_edges", &FeatureProfile::psi_edges, kPsiBins - 1},
           {"/psi_counts", &FeatureProfile::psi_counts, kPsiBins},
           {"/fine_edges", &FeatureProfile::fine_edges, kFineQuantiles + 1},
           {"/fine_counts", &FeatureProfile::fine_counts, kFineQuantiles + 2}}) {
    std::vector<double> v;
    auto info = r.Info(name);
    if (!info.ok() || info.value().dims != std::vector<int64_t>{d, width} ||
        !r.ReadRange(name, 0, d, &v).ok()) {
      return bad(std::string(name));
    }
    for (int64_t j = 0; j < d; ++j)
      (p.features[j].*m).assign(v.begin() + j * width, v.begin() + (j + 1) * width);
  }
  auto cat_names = r.AttrStrings("/", "categorical_names");
  if (cat_names.ok()) {
    std::vector<int64_t> offsets, values;
    std::vector<double> counts;
    const int64_t nc = static_cast<int64_t>(cat_names.value().size());
    if (!r.ReadRange("/cat_offsets", 0, nc + 1, &offsets).ok() || offsets.front() != 0)
      return bad("/cat_offsets");
    if (!r.ReadRange("/cat_values", 0, offsets.back(), &values).ok()) return bad("/cat_values");
    if (!r.ReadRange("/cat_counts", 0, offsets.back(), &counts).ok()) return bad("/cat_counts");
    for (int64_t c = 0; c < nc; ++c) {
      if (offsets[c + 1] < offsets[c]) return bad("/cat_offsets");
      CategoryProfile cp;
      cp.name = cat_names.value()[c];
      cp.values.assign(values.begin() + offsets[c], values.begin() + offsets[c + 1]);
      cp.counts.assign(counts.begin() + offsets[c], counts.begin() + offsets[c + 1]);
      p.categorical.push_back(std::move(cp));
    }
  }
  return p;
}

Result<Profile> BuildProfile(const at::Tensor& x, const std::vector<std::string>& names,
                             const std::string& source) {
  return Guarded("profiling " + source, Code::kInfra, [&] { return BuildProfileImpl(x, names, source); });
}

}  // namespace driftrun
