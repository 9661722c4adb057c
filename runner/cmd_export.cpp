// driftrun export: the ONNX file of a run's newest checkpoint (or a given one),
// preprocessing folded in, lineage in metadata_props.
#include <gflags/gflags.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/text.h"
#include "export/exporter.h"
#include "models/checkpoint.h"
#include "registry/model_source.h"
#include "runner/commands.h"

DECLARE_string(out);
DECLARE_string(checkpoint);
DECLARE_bool(json);
DEFINE_string(run, "", "run folder");

namespace driftrun {

const CommandSpec kExportSpec = {
    "export",
    "export a run's model to ONNX with the fitted preprocessing folded in",
    "driftrun export --run RUN_DIR | --checkpoint CKPT.json --out model.onnx [--json]",
    {{"run", "run folder: exports its newest valid checkpoint, with the run's lineage"},
     {"checkpoint", "a checkpoint manifest (.json) to export instead"},
     {"out", "ONNX file to write (atomically); default RUN_DIR/model.onnx"},
     {"json", "print {onnx, bytes, sha256, seconds} as JSON"}},
    false};

int RunExport(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kExportSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_run.empty() == FLAGS_checkpoint.empty()) {
    return ReportStatus("export",
                        Status::Usage("give exactly one of --run RUN_DIR or --checkpoint CKPT.json"));
  }
  std::string ckpt = FLAGS_checkpoint, out = FLAGS_out;
  std::map<std::string, std::string> meta;
  if (!ckpt.empty()) {
    Status path = CheckManifestPath(ckpt, false);
    if (!path.ok()) return ReportStatus("export", path);
    auto lineage = CheckpointLineage(ckpt);
    if (!lineage.ok()) return ReportStatus("export", lineage.status());
    meta = lineage.value();
  }
  if (!FLAGS_run.empty()) {
    auto c = RunCheckpoint(FLAGS_run);
    if (!c.ok()) return ReportStatus("export", c.status());
    ckpt = c.value();
    auto lineage = RunLineage(FLAGS_run);
    if (!lineage.ok()) return ReportStatus("export", lineage.status());
    meta = lineage.value();
    if (out.empty()) out = FLAGS_run + "/model.onnx";
  }
  if (out.empty())
    return ReportStatus("export", Status::Usage("--out model.onnx is required with --checkpoint"));
  Status same = CheckNotInput(out, {ckpt, ckpt.substr(0, ckpt.size() - 5) + ".h5"}, "--out");
  if (same.ok()) same = CheckOutputPath(out, "--out", "an ONNX model (.onnx)", LooksLikeOnnx);
  if (same.ok()) same = CheckNotAnothersFile(out, "--out", FLAGS_run);
  if (!same.ok()) return ReportStatus("export", same);
  auto r = RunExporter(ckpt, out, meta);
  if (!r.ok()) return ReportStatus("export", r.status());
  if (FLAGS_json) {
    const nlohmann::json j = {{"onnx", r.value().path},
                              {"bytes", r.value().bytes},
                              {"sha256", r.value().sha256},
                              {"seconds", r.value().seconds}};
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "wrote " << EscapeForConsole(r.value().path) << " (" << r.value().bytes << " bytes, sha256 "
              << r.value().sha256.substr(0, 12) << ")\n";
  }
  return 0;
}

}  // namespace driftrun
