#include "reports/dashboard.h"

#include <cmath>
#include <ctime>
#include <sstream>

#include "reports/html.h"
#include "reports/svg.h"

namespace driftrun {
namespace {

using nlohmann::json;

std::string S(const json& j, const char* k) {
  if (!j.is_object() || !j.contains(k) || j[k].is_null()) return "";
  return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
}

double D(const json& j, const char* k) {
  return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0;
}

std::string Utc(double t) {
  if (t <= 0) return "&ndash;";
  const std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string StateTag(const std::string& state) {
  const bool good = state == "promoted" || state == "registered";
  const bool bad = state == "failed" || state == "rejected";
  return std::string("<span class=\"tag ") +
         (good  ? "ok"
          : bad ? "yes"
                : "no") +
         "\">" + HtmlEscape(state) + "</span>";
}

std::string Progress(const json& job) {
  if (job.contains("pool") && job["pool"].is_object() && job["pool"].contains("step")) {
    const json& p = job["pool"];
    return "step " + S(p, "step") + "/" + S(p, "total_steps") + ", " + Sig3(D(p, "samples_per_s")) +
           " samples/s";
  }
  if (job.contains("progress") && job["progress"].is_object())
    return "epoch " + S(job["progress"], "epoch") + ", step " + S(job["progress"], "step");
  return "";
}

std::string QueueTable(const json& models) {
  std::string rows;
  for (const auto& m : models) {
    for (const auto& j : m["jobs"]) {
      const std::string st = S(j, "state");
      if (st != "queued" && st != "running" && st != "trained" && st != "evaluated") continue;
      rows += "<tr>" + Td(S(j, "id"), "num") + Td(HtmlEscape(S(m, "name"))) + Td(StateTag(st)) +
              Td(HtmlEscape(S(j, "trigger"))) + Td(S(j, "priority"), "num") +
              Td(Utc(D(j, "queued_at")), "t") + Td(Utc(D(j, "started_at")), "t") +
              Td(HtmlEscape(Progress(j))) + "</tr>";
    }
  }
  if (rows.empty()) return "<p class=\"sub\">no job queued or running</p>";
  return "<table><tr><th>job</th><th>model</th><th>state</th><th>trigger</th><th>priority</th><th>queued "
         "(UTC)</th><th>started</th><th>progress</th></tr>" +
         rows + "</table>";
}

std::string DriftChart(const json& m) {
  Series share{"drift share of the batch", {}, {}, "#1c7ed6"};
  share.points = true;
  Series drifted{"drifted", {}, {}, "#e8590c"};
  drifted.points = true;
  for (const auto& b : m["batches"]) {
    const double t = D(b, "scored_at");
    if (t <= 0) continue;
    share.x.insert(share.x.begin(), t);
    share.y.insert(share.y.begin(), D(b, "drift_share"));
    if (b.value("drifted", false)) {  // dots only: a gap after each
      drifted.x.insert(drifted.x.end(), {t, NAN});
      drifted.y.insert(drifted.y.end(), {D(b, "drift_share"), NAN});
    }
  }
  ChartOptions o;
  o.width = 760;
  o.height = 250;
  o.time_x = true;
  o.title = "Drift share per batch";
  o.xlabel = "scored at (UTC)";
  o.ylabel = "share of features drifted";
  o.percent_y = true;
  o.y_max = 1;
  o.hlines.push_back({D(m, "drift_share_threshold"), "threshold " + Percent(D(m, "drift_share_threshold"))});
  for (const auto& j : m["jobs"]) {
    if (S(j, "trigger") == "initial") continue;
    o.vmarks.push_back({D(j, "queued_at"), "retrain " + S(j, "id")});
  }
  return LineChart({share, drifted}, o);
}

// Seconds since the epoch of the registry's "2026-11-28T10:08:15.340Z".
double IsoSeconds(const std::string& at) {
  std::tm tm{};
  if (!strptime(at.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<double>(timegm(&tm));
}

std::string ProductionHistory(const json& m) {
  std::vector<std::pair<double, std::string>> rows;  // (time, row)
  if (m.contains("history")) {
    for (const auto& e : m["history"]) {
      if (S(e, "event") != "alias" || S(e, "alias") != "production") continue;
      const std::string from = S(e, "from").empty() ? "none" : S(e, "from");
      rows.push_back(
          {IsoSeconds(S(e, "at")), "<tr>" + Td(HtmlEscape(S(e, "at")), "t") +
                                       Td(StateTag(S(e, "kind") == "rollback" ? "rollback" : "promoted")) +
                                       Td(HtmlEscape(from) + " &rarr; " + HtmlEscape(S(e, "to")), "t") +
                                       Td(HtmlEscape(S(e, "who"))) + Td(HtmlEscape(S(e, "why"))) + "</tr>"});
    }
  }
  for (const auto& j : m["jobs"]) {
    if (S(j, "state") != "rejected") continue;
    // The job's reason, not its verdict's (found by a stranger: a version the
    // verdict favoured, rejected because production moved, showed the verdict).
    rows.push_back({D(j, "ended_at"), "<tr>" + Td(Utc(D(j, "ended_at")), "t") + Td(StateTag("rejected")) +
                                          Td("version " + S(j, "version") + " (job " + S(j, "id") + ")") +
                                          Td("service") + Td(HtmlEscape(S(j, "reason"))) + "</tr>"});
  }
  if (rows.empty()) return "<p class=\"sub\">no promotion or rejection yet</p>";
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string s = "<table><tr><th>when (UTC)</th><th>what</th><th>version</th><th>by</th><th>why</th></tr>";
  for (const auto& r : rows) s += r.second;
  return s + "</table>";
}

std::string Batches(const json& m) {
  if (m["batches"].empty()) return "<p class=\"sub\">no batch scored yet</p>";
  std::string s =
      "<table><tr><th>scored (UTC)</th><th>file</th><th>rows</th><th>drift share</th><th>decision</th>"
      "<th>action</th><th>why</th></tr>";
  for (const auto& b : m["batches"]) {
    std::string file = S(b, "file");
    file = file.substr(file.find_last_of('/') + 1);
    s += std::string("<tr") + (b.value("drifted", false) ? " class=\"drift\"" : "") + ">" +
         Td(Utc(D(b, "scored_at")), "t") + Td(HtmlEscape(file)) + Td(S(b, "rows"), "num") +
         Td(Percent(D(b, "drift_share")), "num") + Td(HtmlEscape(S(b, "decision"))) +
         Td(HtmlEscape(S(b, "action"))) + Td(HtmlEscape(S(b, "reason"))) + "</tr>";
  }
  return s + "</table>";
}

std::string Jobs(const json& m) {
  if (m["jobs"].empty()) return "<p class=\"sub\">no job yet</p>";
  std::string s =
      "<table><tr><th>job</th><th>state</th><th>trigger</th><th>version</th><th>queued (UTC)</th>"
      "<th>ended</th><th>why</th></tr>";
  for (const auto& j : m["jobs"]) {
    s += "<tr>" + Td(S(j, "id"), "num") + Td(StateTag(S(j, "state"))) + Td(HtmlEscape(S(j, "trigger"))) +
         Td(D(j, "version") > 0 ? S(j, "version") : "&ndash;", "num") + Td(Utc(D(j, "queued_at")), "t") +
         Td(Utc(D(j, "ended_at")), "t") + Td(HtmlEscape(S(j, "reason"))) + "</tr>";
  }
  return s + "</table>";
}

std::string Model(const json& m, double now) {
  std::ostringstream s;
  const std::string name = S(m, "name");
  const double prod = D(m, "production");
  s << "<h2 id=\"" << AnchorId("m", name) << "\">" << HtmlEscape(name) << "</h2><dl><dt>production</dt><dd>"
    << (prod > 0 ? HtmlEscape(name) + ":" + S(m, "production") : "none yet")
    << "</dd><dt>pending batches</dt><dd>" << S(m, "pending_batches")
    << "</dd><dt>next retrain allowed</dt><dd>"
    << (D(m, "next_trigger_allowed") <= now ? "now" : Utc(D(m, "next_trigger_allowed")) + " UTC") << "</dd>"
    << "<dt>incoming</dt><dd><code>" << HtmlEscape(S(m, "incoming")) << "</code></dd></dl>";
  s << DriftChart(m);
  s << "<h3>Production history</h3>" << ProductionHistory(m);
  s << "<h3>Recent batches</h3>" << Batches(m) << "<h3>Recent jobs</h3>" << Jobs(m);
  return s.str();
}

}  // namespace

std::string DashboardHtml(const json& status, int refresh_s) {
  std::ostringstream s;
  if (refresh_s > 0) s << "<meta http-equiv=\"refresh\" content=\"" << refresh_s << "\">";
  const json& svc = status.value("service", json::object());
  const bool running = svc.value("running", false);
  s << "<h1>driftrun service</h1><p class=\"sub\"><code>" << HtmlEscape(S(status, "state"))
    << "</code> &middot; as of " << Utc(D(status, "now")) << " UTC</p>";
  s << "<div class=\"banner " << (running ? "good" : "bad") << "\">"
    << (running ? "running (" + HtmlEscape(S(svc, "holder")) + ")"
                : "not running: queued jobs wait, running ones continue when it starts again")
    << "; " << S(status, "pending_signals") << " signal(s) waiting";
  if (svc.contains("pool") && svc["pool"].is_object())
    s << "; pool: " << S(svc["pool"], "workers") << " worker rank(s), " << S(svc["pool"], "busy") << " busy";
  s << "</div><h2>Queue and running jobs</h2>" << QueueTable(status.value("models", json::array()));
  for (const auto& m : status.value("models", json::array())) s << Model(m, D(status, "now"));
  s << "<p class=\"foot\">driftrun service dashboard, from the journal and the registry; "
       "<code>driftrun status --json</code> gives the same facts.</p>";
  return HtmlPage("driftrun service", s.str(), "service dashboard");
}

}  // namespace driftrun
