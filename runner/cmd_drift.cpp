// driftrun profile / drift: reference profiles and drift reports.
#include <gflags/gflags.h>

#include <ATen/ATen.h>

#include <cmath>
#include <iostream>

#include "common/config.h"
#include "common/file_util.h"
#include "common/text.h"
#include "dataio/tabular_data.h"
#include "monitor/drift.h"
#include "monitor/profile.h"
#include "reports/drift_html.h"
#include "reports/html.h"
#include "runner/commands.h"

DECLARE_string(config);
DECLARE_string(out);
DECLARE_bool(json);
DEFINE_string(in, "", "input HDF5 file");
DEFINE_string(dataset, "/features", "features dataset");
DEFINE_string(reference, "", "reference profile or data");
DEFINE_string(current, "", "current batch");
DEFINE_string(html, "", "HTML report path");

namespace driftrun {

const CommandSpec kProfileSpec = {
    "profile",
    "compute a reference profile (quantiles, histograms, missing rates) of an HDF5 data file",
    "driftrun profile --in train.h5 --out ref.profile.h5 [--dataset /features]",
    {{"in", "data file (HDF5) with a float [rows, features] dataset"},
     {"out", "profile file to write (HDF5, readable with h5py)"},
     {"dataset", "name of the features dataset"}},
    false};

const CommandSpec kDriftSpec = {
    "drift",
    "compare a batch with a reference (profile or data): PSI, KS, Jensen-Shannon, Wasserstein per feature",
    "driftrun drift --reference ref.profile.h5|ref.h5 --current batch.h5 [--json] [--html report.html] "
    "[--config FILE] [--set drift.key=value ...]",
    {{"reference", "reference profile (from driftrun profile) or reference data (HDF5)"},
     {"current", "current batch (HDF5)"},
     {"json", "print the report as JSON (fields: dataset_drift, drift_share, method, features[...])"},
     {"html", "also write an HTML report with per-feature histograms (inline SVG, no network needed)"},
     {"dataset", "name of the features dataset in the data files"},
     {"config", "config whose [drift] section sets thresholds and method (configs/README.md)"}},
    true};

namespace {

at::Tensor AsTensor(FeatureMatrix& m) {
  return at::from_blob(m.x.data(), {m.rows, m.dim}, at::kFloat);
}

}  // namespace

// The current batch's columns in the reference's order, matched by name (when
// the batch names its columns and the count matches; CompareProfile and the
// name check below report every other mismatch).
static Status AlignToReference(const std::vector<std::string>& ref_names, FeatureMatrix* cur) {
  if (!cur->named && cur->dim == static_cast<int64_t>(ref_names.size())) {
    std::cerr << "driftrun drift: warning: --current '" << EscapeForConsole(FLAGS_current)
              << "' has no feature_names: its " << cur->dim
              << " columns are compared by position with the reference's; name them to have them matched by "
                 "name\n";
  }
  if (!cur->named || ref_names == cur->names) return Status::Ok();
  Status st = AlignColumns(ref_names, cur->names, true, "--current '" + FLAGS_current + "'", cur->rows,
                           &cur->x, nullptr, "the reference");
  if (!st.ok()) {
    return Status::Data("feature names differ (" + std::to_string(cur->names.size()) +
                        " features in --current, " + std::to_string(ref_names.size()) +
                        " in the reference): " + st.message());
  }
  cur->names = ref_names;
  return Status::Ok();
}

int RunProfile(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kProfileSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_in.empty() || FLAGS_out.empty()) {
    return ReportStatus("profile", Status::Usage("--in FILE and --out FILE are required"));
  }
  Status same = CheckNotInput(FLAGS_out, {FLAGS_in}, "--out");
  if (same.ok()) same = CheckOutputPath(FLAGS_out, "--out", "a reference profile", IsProfileFile);
  if (same.ok()) same = CheckNotAnothersFile(FLAGS_out, "--out", "");
  if (!same.ok()) return ReportStatus("profile", same);
  auto m = ReadFeatureMatrix(FLAGS_in, FLAGS_dataset);
  if (!m.ok()) return ReportStatus("profile", m.status());
  if (m.value().rows == 0) return ReportStatus("profile", Status::Data("'" + FLAGS_in + "' has no rows"));
  auto p = BuildProfile(AsTensor(m.value()), m.value().names, FLAGS_in);
  if (!p.ok()) return ReportStatus("profile", p.status());
  auto cat = ReadCategoricalMatrix(FLAGS_in, "/categorical");
  if (!cat.ok()) return ReportStatus("profile", cat.status());
  p.value().categorical = ProfileCategories(cat.value().v, cat.value().rows, cat.value().names);
  Status st = WriteProfile(FLAGS_out, p.value());
  if (!st.ok()) return ReportStatus("profile", st);
  // A column with no finite value profiles nothing: every batch will differ from it.
  for (const FeatureProfile& f : p.value().features) {
    if (f.count == 0)
      std::cerr << "driftrun profile: warning: feature " << EscapeForConsole(f.name) << " of '"
                << EscapeForConsole(FLAGS_in)
                << "' has no finite value (all NaN or infinite): drift against this profile will flag it in "
                   "every batch that has values; profile data where it is filled\n";
  }
  std::cout << "wrote " << EscapeForConsole(FLAGS_out) << ": " << m.value().rows << " rows, " << m.value().dim
            << " features\n";
  return 0;
}

// The console view: the dataset verdict, then each drifted feature with the
// statistic that decided.
static void PrintDrift(const DriftReport& r) {
  std::cout << (r.dataset_drift ? "DATASET DRIFT: " : "no dataset drift: ") << r.drifted << " of "
            << r.features.size() << " features drifted (share " << r.drift_share << ", rule " << r.method
            << (r.method == "auto" ? (r.ref_rows <= 1000 ? " = ks p-value" : " = wasserstein") : "") << ", "
            << r.stats_method << " statistics)\n";
  for (const auto& f : r.features) {
    if (!f.drifted) continue;
    std::cout << "  " << EscapeForConsole(f.name) << ": drifted by " << f.decided_by;
    if (f.decided_by == "missing") {
      std::cout << " (missing share " << f.ref_missing << " -> " << f.cur_missing << ")";
    }
    if (f.categorical) {
      std::cout << "; chi2 p " << f.chi2_pvalue << ", js " << f.jensen_shannon << "\n";
    } else if (std::isnan(f.psi) && std::isnan(f.ks_statistic)) {
      std::cout << "; no finite values to compare (no statistics)\n";  // an all-NaN or all-infinite column
    } else {
      std::cout << "; psi " << f.psi << ", ks " << f.ks_statistic << " (p " << f.ks_pvalue
                << "), wasserstein " << f.wasserstein << ", js " << f.jensen_shannon << "\n";
    }
  }
}

int RunDrift(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kDriftSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_reference.empty() || FLAGS_current.empty()) {
    return ReportStatus("drift", Status::Usage("--reference and --current are required"));
  }
  Status same = CheckNotInput(FLAGS_html, {FLAGS_reference, FLAGS_current, FLAGS_config}, "--html");
  if (same.ok() && !FLAGS_html.empty()) same = CheckReportPath(FLAGS_html, "--html", "drift report");
  if (same.ok() && !FLAGS_html.empty()) same = CheckNotAnothersFile(FLAGS_html, "--html", "");
  if (!same.ok()) return ReportStatus("drift", same);
  auto cfg = Config::Load(FLAGS_config, args.sets);
  if (!cfg.ok()) return ReportStatus("drift", cfg.status());
  auto opts = DriftOptions::FromConfig(cfg.value());
  if (!opts.ok()) return ReportStatus("drift", opts.status());
  if (IsProfileFile(FLAGS_current)) {  // found by a stranger: the two flags swapped
    return ReportStatus("drift", Status::Usage("--current '" + FLAGS_current +
                                               "' is a reference profile (driftrun profile), not data: "
                                               "give it as --reference and the batch to check as --current"));
  }
  auto cur = ReadFeatureMatrix(FLAGS_current, FLAGS_dataset);
  if (!cur.ok()) return ReportStatus("drift", cur.status().WithContext("--current"));
  Result<DriftReport> report = Status::Data("no reference");
  if (IsProfileFile(FLAGS_reference)) {
    auto prof = ReadProfile(FLAGS_reference);
    if (!prof.ok()) return ReportStatus("drift", prof.status());
    std::vector<std::string> ref_names;
    for (const auto& f : prof.value().features) ref_names.push_back(f.name);
    Status aligned = AlignToReference(ref_names, &cur.value());
    if (!aligned.ok()) return ReportStatus("drift", aligned);
    report = CompareProfile(prof.value(), AsTensor(cur.value()), cur.value().names, opts.value());
  } else {
    if (!PathExists(FLAGS_reference)) {
      return ReportStatus("drift", Status::Data("--reference '" + FLAGS_reference + "' does not exist"));
    }
    auto ref = ReadFeatureMatrix(FLAGS_reference, FLAGS_dataset);
    if (!ref.ok()) {
      return ReportStatus("drift",
                          ref.status().WithContext("--reference (neither a driftrun profile nor data)"));
    }
    if (ref.value().rows == 0) {
      return ReportStatus("drift", Status::Data("--reference '" + FLAGS_reference +
                                                "' has no rows: there is nothing to compare against; give "
                                                "the data the model was trained on, or its profile"));
    }
    Status aligned = AlignToReference(ref.value().names, &cur.value());
    if (!aligned.ok()) return ReportStatus("drift", aligned);
    if (ref.value().names != cur.value().names) {
      return ReportStatus(
          "drift", Status::Data("feature names differ between '" + FLAGS_reference + "' (" +
                                std::to_string(ref.value().dim) + " features) and '" + FLAGS_current + "' (" +
                                std::to_string(cur.value().dim) + "); compare like with like"));
    }
    report = CompareData(AsTensor(ref.value()), AsTensor(cur.value()), cur.value().names, opts.value());
  }
  if (!report.ok()) return ReportStatus("drift", report.status().WithContext("'" + FLAGS_current + "'"));
  DriftReport& r = report.value();
  r.reference = FLAGS_reference;
  r.current = FLAGS_current;
  // Categorical columns (/categorical int64 [rows, C]), from the profile or the data.
  auto cur_cat = ReadCategoricalMatrix(FLAGS_current, "/categorical");
  if (!cur_cat.ok()) return ReportStatus("drift", cur_cat.status());
  std::vector<CategoryProfile> ref_cats;
  if (IsProfileFile(FLAGS_reference)) {
    ref_cats = ReadProfile(FLAGS_reference).value().categorical;
  } else {
    auto ref_cat = ReadCategoricalMatrix(FLAGS_reference, "/categorical");
    if (!ref_cat.ok()) return ReportStatus("drift", ref_cat.status());
    ref_cats = ProfileCategories(ref_cat.value().v, ref_cat.value().rows, ref_cat.value().names);
  }
  if (!ref_cats.empty() || cur_cat.value().dim > 0) {
    Status st = AddCategorical(ref_cats, cur_cat.value().v, cur_cat.value().rows, cur_cat.value().names, &r);
    if (!st.ok()) return ReportStatus("drift", st.WithContext("'" + FLAGS_current + "'"));
  }
  if (!FLAGS_html.empty()) {
    Status st = WriteFileAtomic(FLAGS_html, DriftReportHtml(r));
    if (!st.ok()) return ReportStatus("drift", st);
  }
  if (FLAGS_json) {
    std::cout << r.ToJson().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    PrintDrift(r);
  }
  return 0;
}

}  // namespace driftrun
