// driftrun report: the HTML report of a run (RUN/report.html, also written at
// the end of every `driftrun train`).
#include <gflags/gflags.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/text.h"
#include "reports/run_report.h"
#include "runner/commands.h"

DECLARE_string(out);
DECLARE_string(run);
DECLARE_bool(json);

namespace driftrun {

const CommandSpec kReportSpec = {
    "report",
    "write a run's HTML report: loss and metric curves, throughput, lineage, preprocessing, config",
    "driftrun report --run RUN_DIR [--out report.html] [--json]",
    {{"run", "run folder (finished, stopped or still going)"},
     {"out", "HTML file to write (atomically); default RUN_DIR/report.html"},
     {"json", "print {report} as JSON"}},
    false};

int RunReport(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kReportSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_run.empty()) return ReportStatus("report", Status::Usage("--run RUN_DIR is required"));
  if (!IsDir(FLAGS_run))
    return ReportStatus("report",
                        Status::Usage("--run '" + FLAGS_run + "' is not a folder; name a run folder"));
  const std::string out = FLAGS_out.empty() ? FLAGS_run + "/report.html" : FLAGS_out;
  if (IsDir(out))
    return ReportStatus("report", Status::Usage("--out '" + out + "' is a folder; name a file"));
  for (const char* f : {"/events.jsonl", "/metrics.jsonl", "/summary.json", "/config.resolved.toml"}) {
    Status same = CheckNotInput(out, {FLAGS_run + f}, "--out");
    if (!same.ok()) return ReportStatus("report", same);
  }
  auto html = RunReportHtml(FLAGS_run);
  if (!html.ok()) return ReportStatus("report", html.status());
  Status st = WriteFileAtomic(out, html.value());
  if (!st.ok()) return ReportStatus("report", st);
  if (FLAGS_json) {
    std::cout
        << nlohmann::json({{"report", out}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  } else {
    std::cout << "wrote " << EscapeForConsole(out) << "\n";
  }
  return 0;
}

}  // namespace driftrun
