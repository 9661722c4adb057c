// driftrun predict: LibTorch inference on raw inputs with a run's or a
// registered version's model.
#include <gflags/gflags.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/file_util.h"
#include "common/text.h"
#include "dataio/h5_io.h"
#include "export/exporter.h"
#include "registry/model_source.h"
#include "runner/commands.h"
#include "trainers/predict.h"

DECLARE_string(in);
DECLARE_string(out);
DECLARE_string(run);
DECLARE_string(checkpoint);
DECLARE_bool(json);
DEFINE_string(model, "", "NAME[@ALIAS|:VERSION] in the registry");
DEFINE_string(registry, "", "registry folder");
DEFINE_bool(save_ids, false, "text: also write the hashed n-gram ids");
DEFINE_string(device, "cpu", "cpu | cuda | auto");

namespace driftrun {

const CommandSpec kPredictSpec = {
    "predict",
    "run a trained model on raw inputs (preprocessing applied) and write predictions",
    "driftrun predict --model NAME[@ALIAS|:VERSION] | --run RUN_DIR | --checkpoint CKPT.json --in x.h5 --out "
    "y.h5 [--json]",
    {{"model",
      "a registered version: NAME@ALIAS (e.g. churn@production), NAME:VERSION, or NAME (newest); its "
      "checkpoint is checked against its recorded sha256 first (driftrun registry verify checks every "
      "artifact)"},
     {"run", "a run folder: its newest valid checkpoint and config.resolved.toml"},
     {"checkpoint",
      "one checkpoint manifest of a run folder (RUN_DIR/checkpoints/ckpt-N.json), e.g. an older one when the "
      "newest is damaged; read with the run's config.resolved.toml"},
     {"registry",
      "registry folder for --model (default ./driftrun-registry); it must exist: predict never creates one"},
     {"in",
      "HDF5 file with the raw inputs under the training config's dataset name (features, images or text)"},
     {"out",
      "HDF5 file to write: /prediction float32 [N, K] (regression: the values; classification: the class "
      "probabilities) and, for classification only, /label int64 [N] (the most probable class)"},
     {"save_ids",
      "text models: also write /input, the hashed n-gram ids the model (and its ONNX file) takes"},
     {"device", "cpu | cuda | auto"},
     {"json",
      "print {rows, seconds, rows_per_s, model, suspect_rows} as JSON (suspect_rows: all_missing, "
      "infinite_input, far_outside_training for feature models; empty, truncated, invalid_utf8 for text "
      "models; nonfinite_prediction for every model)"}},
    false};

int RunPredict(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kPredictSpec, argc, argv, &args, &code)) return code;
  if (!args.positional.empty()) {
    return ReportStatus("predict", Status::Usage("unexpected argument '" + args.positional[0] +
                                                 "'; inputs go in --in FILE (see --help)"));
  }
  if (FLAGS_device != "cpu" && FLAGS_device != "cuda" && FLAGS_device != "auto") {
    return ReportStatus("predict",
                        Status::Usage("--device must be cpu, cuda or auto, not '" + FLAGS_device + "'"));
  }
  if (FLAGS_in.empty() || FLAGS_out.empty()) {
    return ReportStatus("predict", Status::Usage("--in x.h5 and --out y.h5 are required"));
  }
  Status same = CheckNotInput(FLAGS_out, {FLAGS_in}, "--out");
  if (!same.ok()) return ReportStatus("predict", same);
  auto src = ResolveModelSource(FLAGS_model, FLAGS_run, FLAGS_registry, FLAGS_checkpoint);
  if (!src.ok()) return ReportStatus("predict", src.status());
  same = CheckNotInput(FLAGS_out, src.value().files, "--out");
  if (same.ok())
    same = CheckOutputPath(FLAGS_out, "--out", "a predictions file of driftrun predict",
                           [](const std::string& p) { return IsDriftrunOutput(p, "predictions"); });
  if (same.ok()) same = CheckNotAnothersFile(FLAGS_out, "--out", "");
  if (!same.ok()) return ReportStatus("predict", same);
  PredictRequest req;
  req.checkpoint = &src.value().checkpoint;
  req.config = &src.value().config;
  req.in = FLAGS_in;
  req.out = FLAGS_out;
  req.save_ids = FLAGS_save_ids;
  req.device = FLAGS_device;
  auto r = Predict(req);  // maps LibTorch errors: out of memory and device errors 5, others 3
  if (!r.ok()) return ReportStatus("predict", r.status());
  for (const auto& w : src.value().warnings)
    std::cerr << "driftrun predict: warning: " << EscapeForConsole(w) << "\n";
  for (const auto& w : r.value().warnings)
    std::cerr << "driftrun predict: warning: " << EscapeForConsole(w) << "\n";
  const double rps = r.value().rows / std::max(1e-9, r.value().seconds);
  std::string suspect;
  for (const auto& [k, n] : r.value().suspect)
    if (n > 0 && k != "nonfinite_prediction" && k != "far_outside_training" &&
        k != "infinite_input")  // those have their own warnings
      suspect += (suspect.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  if (!suspect.empty())
    std::cerr
        << "driftrun predict: warning: suspect rows (their predictions rest on little or broken input): "
        << suspect << "\n";
  if (FLAGS_json) {
    const nlohmann::json j = {{"rows", r.value().rows},
                              {"seconds", r.value().seconds},
                              {"rows_per_s", rps},
                              {"model", src.value().label},
                              {"suspect_rows", r.value().suspect}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "predicted " << r.value().rows << " rows with " << EscapeForConsole(src.value().label)
              << " -> " << EscapeForConsole(FLAGS_out) << "\n";
  }
  return 0;
}

}  // namespace driftrun
