// driftrun preprocess: apply the fitted preprocessing to a file, for inspection.
#include <gflags/gflags.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/file_util.h"
#include "common/text.h"
#include "dataio/h5_io.h"
#include "models/checkpoint.h"
#include "runner/commands.h"
#include "trainers/preprocess_file.h"

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

namespace {

Status Preprocess(const ParsedArgs& args) {
  if (FLAGS_config.empty() || FLAGS_in.empty() || FLAGS_out.empty()) {
    return Status::Usage("--config, --in and --out are required");
  }
  DRIFTRUN_ASSIGN_OR_RETURN(Config cfg, Config::Load(FLAGS_config, args.sets));
  std::vector<std::string> inputs = {FLAGS_in, FLAGS_config};
  for (const auto& t : cfg.StrList("data.train")) inputs.push_back(t);
  if (!FLAGS_checkpoint.empty()) {
    const std::string base = EndsWith(FLAGS_checkpoint, ".json") || EndsWith(FLAGS_checkpoint, ".h5")
                                 ? FLAGS_checkpoint.substr(0, FLAGS_checkpoint.rfind('.'))
                                 : FLAGS_checkpoint;
    inputs.insert(inputs.end(), {FLAGS_checkpoint, base + ".json", base + ".h5"});
  }
  DRIFTRUN_RETURN_IF_ERROR(CheckNotInput(FLAGS_out, inputs, "--out"));
  DRIFTRUN_RETURN_IF_ERROR(
      CheckOutputPath(FLAGS_out, "--out", "a file of driftrun preprocess",
                      [](const std::string& p) { return IsDriftrunOutput(p, "preprocessed"); }));
  DRIFTRUN_RETURN_IF_ERROR(CheckNotAnothersFile(FLAGS_out, "--out", ""));
  Preprocessor pre;
  if (!FLAGS_checkpoint.empty()) {
    DRIFTRUN_ASSIGN_OR_RETURN(CheckpointState ck, ReadCheckpoint(FLAGS_checkpoint));
    pre = ck.pre;
  } else {
    DRIFTRUN_ASSIGN_OR_RETURN(pre, FitPreprocessorOnFile(cfg));
  }
  DRIFTRUN_ASSIGN_OR_RETURN(PreprocessFileReport rep,
                            PreprocessFile(pre, FLAGS_in, FLAGS_out, cfg.Str("data.features"),
                                           cfg.Str("data.labels"), cfg.Float("drift.missing_rise")));
  for (const auto& w : rep.warnings)
    std::cerr << "driftrun preprocess: warning: " << EscapeForConsole(w) << "\n";
  nlohmann::json cols = nlohmann::json::array();
  for (size_t j = 0; j < rep.names.size(); ++j) {
    cols.push_back({{"name", rep.names[j]}, {"imputed", rep.imputed[j]}, {"clipped", rep.clipped[j]}});
  }
  nlohmann::json report = {
      {"in", FLAGS_in}, {"out", FLAGS_out}, {"rows", rep.rows}, {"columns", cols}, {"notes", pre.notes}};
  if (FLAGS_json) {
    std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "wrote " << EscapeForConsole(FLAGS_out) << " (" << rep.rows << " rows)\n";
    for (const auto& n : pre.notes) std::cout << "  " << EscapeForConsole(n) << "\n";
  }
  return Status::Ok();
}

}  // namespace

int RunPreprocess(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kPreprocessSpec, argc, argv, &args, &code)) return code;
  return ReportStatus("preprocess", Preprocess(args));
}

}  // namespace driftrun
