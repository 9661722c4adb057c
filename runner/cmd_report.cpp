// driftrun report: the HTML report of a run (RUN/report.html, also written at
// the end of every `driftrun train`).
#include <gflags/gflags.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/text.h"
#include "reports/dashboard.h"
#include "reports/html.h"
#include "reports/run_report.h"
#include "runner/commands.h"
#include "scheduler/service_status.h"

DECLARE_string(out);
DECLARE_string(run);
DECLARE_string(config);
DECLARE_bool(json);
DEFINE_int64(report_batches, 100, "batches and jobs drawn per model on the dashboard");

namespace driftrun {

const CommandSpec kReportSpec = {
    "report",
    "write an HTML report: a run's (curves, throughput, lineage, preprocessing, config) or the service "
    "dashboard (drift over time, retrains, production history, queue)",
    "driftrun report --run RUN_DIR [--out report.html] [--json]\n"
    "       driftrun report --config SERVICE.toml --out dashboard.html [--batches N] [--json]",
    {{"run", "run folder (finished, stopped or still going)"},
     {"config", "the service config: write its dashboard from the journal and the registry"},
     {"out", "HTML file to write (atomically); default RUN_DIR/report.html (required with --config)"},
     {"batches", "dashboard: batches and jobs drawn per model (default 100)", "report_batches"},
     {"json", "print {report} as JSON"}},
    true};

namespace {

int Written(const std::string& out) {
  if (FLAGS_json) {
    std::cout
        << nlohmann::json({{"report", out}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  } else {
    std::cout << "wrote " << EscapeForConsole(out) << "\n";
  }
  return 0;
}

int Dashboard(const std::vector<std::string>& sets) {
  if (FLAGS_out.empty())
    return ReportStatus("report", Status::Usage("--out dashboard.html is required with --config"));
  Status where = CheckReportPath(FLAGS_out, "--out", "service dashboard");
  if (where.ok()) where = CheckNotAnothersFile(FLAGS_out, "--out", "");
  if (!where.ok()) return ReportStatus("report", where);
  if (FLAGS_report_batches < 1) return ReportStatus("report", Status::Usage("--batches must be >= 1"));
  std::string note;
  auto setup = ServiceSetup::LoadAsServed(FLAGS_config, sets, &note);
  if (!setup.ok()) return ReportStatus("report", setup.status());
  Status same = CheckNotInput(FLAGS_out, {FLAGS_config, setup.value().Journal()}, "--out");
  if (!same.ok()) return ReportStatus("report", same);
  ServiceStatusOptions so;
  so.limit = FLAGS_report_batches;
  so.history = true;
  so.now = WallClock().Seconds();
  auto status = ServiceStatusJson(setup.value(), so);
  if (!status.ok()) return ReportStatus("report", status.status());
  Status st = WriteFileAtomic(FLAGS_out, DashboardHtml(status.value()));
  if (!st.ok()) return ReportStatus("report", st);
  return Written(FLAGS_out);
}

}  // namespace

int RunReport(int argc, char** argv) {
  ParsedArgs args;
  int code = 0;
  if (!ParseCommand(kReportSpec, argc, argv, &args, &code)) return code;
  if (FLAGS_run.empty() == FLAGS_config.empty())
    return ReportStatus("report",
                        Status::Usage("give exactly one of --run RUN_DIR or --config SERVICE.toml"));
  if (!FLAGS_config.empty()) return Dashboard(args.sets);
  if (!args.sets.empty()) return ReportStatus("report", Status::Usage("--set goes with --config only"));
  if (!IsDir(FLAGS_run))
    return ReportStatus("report",
                        Status::Usage("--run '" + FLAGS_run + "' is not a folder; name a run folder"));
  const std::string out = FLAGS_out.empty() ? FLAGS_run + "/report.html" : FLAGS_out;
  Status where = CheckReportPath(out, "--out", "run report");
  if (where.ok()) where = CheckNotAnothersFile(out, "--out", FLAGS_run);
  if (!where.ok()) return ReportStatus("report", where);
  auto html = RunReportHtml(FLAGS_run);
  if (!html.ok()) return ReportStatus("report", html.status());
  Status st = WriteFileAtomic(out, html.value());
  if (!st.ok()) return ReportStatus("report", st);
  return Written(out);
}

}  // namespace driftrun
