// driftrun preprocess: apply the fitted preprocessing to a file, for inspection.
#include <gflags/gflags.h>

#include <ATen/ATen.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "runner/commands.h"
#include "models/checkpoint.h"
#include "dataio/h5_io.h"
#include "comm/local_communicator.h"
#include "trainers/preprocess.h"
#include "dataio/tabular_data.h"

DECLARE_string(config);
DECLARE_string(in);
DECLARE_string(out);
DECLARE_bool(json);
DEFINE_string(checkpoint, "", "checkpoint whose fitted preprocessing to apply");

namespace driftrun {

const CommandSpec kPreprocessSpec = {
    "preprocess",
    "apply the fitted preprocessing (impute, scale, clip) to an HDF5 file and report what was done",
    "driftrun preprocess --config FILE --in a.h5 --out b.h5 [--checkpoint ckpt.json] [--json]",
    {{"config",
      "experiment config: [data] names the training data the transform is fitted on and the datasets; "
      "[preprocess] chooses per-column behaviour"},
     {"in", "HDF5 file to transform (same features as the training data)"},
     {"out", "HDF5 file to write: float32 /features, /labels copied, the parameters under /preprocess"},
     {"checkpoint", "apply the preprocessing saved in this checkpoint instead of fitting on [data] train"},
     {"json", "print the report (per column: imputed and clipped counts, notes) as JSON"}},
    true};

int RunPreprocess(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kPreprocessSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_config.empty() || FLAGS_in.empty() || FLAGS_out.empty()) {
    return ReportStatus("preprocess", Status::Usage("--config, --in and --out are required"));
  }
  auto cfg = Config::Load(FLAGS_config, args.sets);
  if (!cfg.ok()) return ReportStatus("preprocess", cfg.status());
  auto opts = PreprocessOptions::FromConfig(cfg.value());
  if (!opts.ok()) return ReportStatus("preprocess", opts.status());
  const std::string features = cfg.value().Str("data.features"), labels = cfg.value().Str("data.labels");
  Preprocessor pre;
  if (!FLAGS_checkpoint.empty()) {
    auto ck = ReadCheckpoint(FLAGS_checkpoint);
    if (!ck.ok()) return ReportStatus("preprocess", ck.status());
    pre = ck.value().pre;
  } else {
    auto train = ReadFeatureMatrix(cfg.value().Str("data.train"), features);
    if (!train.ok()) return ReportStatus("preprocess", train.status().WithContext("[data] train"));
    TabularSpec spec;
    spec.path = cfg.value().Str("data.train");
    spec.features = features;
    TabularMeta meta;
    meta.rows = train.value().rows;
    meta.dim = train.value().dim;
    meta.feature_names = train.value().names;
    LocalCommunicator local;
    at::Tensor x = at::from_blob(train.value().x.data(), {meta.rows, meta.dim}, at::kFloat);
    auto fit = FitPreprocessor(local, x, {}, spec, meta, opts.value());
    if (!fit.ok()) return ReportStatus("preprocess", fit.status());
    pre = fit.value().pre;
  }
  auto in = ReadFeatureMatrix(FLAGS_in, features);
  if (!in.ok()) return ReportStatus("preprocess", in.status());
  if (in.value().dim != pre.dim()) {
    return ReportStatus("preprocess",
                        Status::Data("'" + FLAGS_in + "' has " + std::to_string(in.value().dim) +
                                     " features; the transform was fitted on " + std::to_string(pre.dim())));
  }
  pre.bf16 = false;  // HDF5 has no bfloat16: the file holds float32
  TransformReport rep;
  auto out = ApplyPreprocessor(
      pre, at::from_blob(in.value().x.data(), {in.value().rows, in.value().dim}, at::kFloat), &rep);
  if (!out.ok()) return ReportStatus("preprocess", out.status());
  Status st = [&]() -> Status {
    DRIFTRUN_ASSIGN_OR_RETURN(auto w, H5Writer::Create(FLAGS_out));
    at::Tensor y = out.value().contiguous();
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/features", {in.value().rows, in.value().dim}, y.data_ptr<float>()));
    DRIFTRUN_RETURN_IF_ERROR(w->AttrStrings("/", "feature_names", in.value().names));
    auto r = H5Reader::Open(FLAGS_in);
    if (r.ok() && r.value()->Has(labels)) {
      auto info = r.value()->Info(labels);
      if (info.ok() && info.value().kind == H5Kind::kInteger) {
        std::vector<int64_t> v;
        DRIFTRUN_RETURN_IF_ERROR(r.value()->ReadRange(labels, 0, info.value().rows(), &v));
        DRIFTRUN_RETURN_IF_ERROR(w->Write(labels, info.value().dims, v.data()));
      } else if (info.ok() && info.value().kind == H5Kind::kFloat) {
        std::vector<float> v;
        DRIFTRUN_RETURN_IF_ERROR(r.value()->ReadRange(labels, 0, info.value().rows(), &v));
        DRIFTRUN_RETURN_IF_ERROR(w->Write(labels, info.value().dims, v.data()));
      }
    }
    const int64_t d = pre.dim();
    DRIFTRUN_RETURN_IF_ERROR(WritePreprocessor(*w, "/preprocess", pre));
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/preprocess/imputed", {d}, rep.imputed.data()));
    DRIFTRUN_RETURN_IF_ERROR(w->Write("/preprocess/clipped", {d}, rep.clipped.data()));
    return w->Commit();
  }();
  if (!st.ok()) return ReportStatus("preprocess", st);
  nlohmann::json cols = nlohmann::json::array();
  for (int64_t j = 0; j < pre.dim(); ++j) {
    cols.push_back({{"name", in.value().names[j]}, {"imputed", rep.imputed[j]}, {"clipped", rep.clipped[j]}});
  }
  nlohmann::json report = {{"in", FLAGS_in},
                           {"out", FLAGS_out},
                           {"rows", in.value().rows},
                           {"columns", cols},
                           {"notes", pre.notes}};
  if (FLAGS_json) {
    std::cout << report.dump(2) << "\n";
  } else {
    std::cout << "wrote " << FLAGS_out << " (" << in.value().rows << " rows)\n";
    for (const auto& n : pre.notes) std::cout << "  " << n << "\n";
  }
  return 0;
}

}  // namespace driftrun
