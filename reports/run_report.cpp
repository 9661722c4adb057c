#include "reports/run_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/file_lock.h"
#include "common/file_util.h"
#include "models/checkpoint.h"
#include "reports/html.h"
#include "reports/svg.h"

namespace driftrun {
namespace {

using nlohmann::json;

std::vector<json> JsonLines(const std::string& path) {
  std::vector<json> out;
  auto text = ReadFile(path);
  if (!text.ok()) return out;
  std::istringstream in(text.value());
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));  // a torn last line is skipped
  }
  return out;
}

double Num(const json& j, const char* k) {
  return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN;
}

std::string Str(const json& j, const char* k) {
  if (!j.is_object() || !j.contains(k)) return "";
  return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
}

std::string Fact(const std::string& name, const std::string& html) {
  return "<dt>" + HtmlEscape(name) + "</dt><dd>" + html + "</dd>";
}

std::string Charts(const std::vector<json>& metrics, const std::string& metric_name) {
  Series train{"train loss", {}, {}, "#1c7ed6"}, val{"validation loss", {}, {}, "#e8590c", true};
  Series metric{metric_name, {}, {}, "#2b8a3e"}, sps{"samples/s", {}, {}, "#7048e8"};
  train.points = val.points = metric.points = sps.points = metrics.size() < 30;
  for (const auto& m : metrics) {
    const double e = Num(m, "epoch");
    train.x.push_back(e), train.y.push_back(Num(m, "train_loss"));
    val.x.push_back(e), val.y.push_back(Num(m, "val_loss"));
    metric.x.push_back(e), metric.y.push_back(Num(m, "val_metric"));
    sps.x.push_back(e), sps.y.push_back(Num(m, "samples_per_s"));
  }
  ChartOptions o;
  o.xlabel = "epoch";
  o.integer_x = true;
  o.title = "Loss per epoch";
  o.ylabel = "loss";
  // A log axis when the losses span more than a factor of 10.
  double lo = INFINITY, hi = 0;
  for (const auto* se : {&train, &val}) {
    for (double v : se->y) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  o.log_y = lo > 0 && hi > 10 * lo;
  std::string s = "<div class=\"charts\">" + LineChart({train, val}, o);
  o.log_y = false;
  o.title = "Validation " + metric_name;
  o.ylabel = metric_name;
  s += LineChart({metric}, o);
  o.title = "Throughput";
  o.ylabel = "samples/s";
  return s + LineChart({sps}, o) + "</div>";
}

std::string StepTable(const json& summary) {
  if (!summary.is_object() || !summary.contains("step_ms") || !summary["step_ms"].is_object()) return "";
  const json& ms = summary["step_ms"];
  std::string s = "<h2>Where a step's time went</h2><table><tr>";
  const char* keys[] = {"total", "data", "compute", "allreduce_exposed", "optimizer", "other"};
  for (const char* k : keys) s += "<th>" + std::string(k) + "</th>";
  s += "</tr><tr>";
  for (const char* k : keys) s += Td(Sig3(Num(ms, k)) + " ms", "num");
  return s + "</tr></table><p class=\"sub\">rank 0's mean per step over the run</p>";
}

std::string Lineage(const std::string& run_dir, const std::vector<json>& events,
                    const std::string& config_text) {
  std::string s = "<h2>Lineage</h2><dl>";
  auto cfg = Config::FromString(config_text, "config.resolved.toml", {});
  if (cfg.ok()) {
    std::string files;
    for (const auto& f : cfg.value().StrList("data.train")) files += "<code>" + HtmlEscape(f) + "</code><br>";
    s += Fact("training data", files);
    if (!cfg.value().Str("data.val").empty())
      s += Fact("validation data", "<code>" + HtmlEscape(cfg.value().Str("data.val")) + "</code>");
    if (!cfg.value().Str("train.init_from").empty())
      s += Fact("warm start from", "<code>" + HtmlEscape(cfg.value().Str("train.init_from")) + "</code>");
  }
  for (const auto& e : events) {
    const std::string ev = Str(e, "event");
    if (ev == "start" || ev == "resume") {
      s += Fact(ev == "start" ? "started" : "resumed",
                "step " + Str(e, "step") + ", " + Str(e, "world_size") + " rank(s) on " +
                    HtmlEscape(Str(e, "device")) + " (" + HtmlEscape(Str(e, "backend")) + "), code " +
                    HtmlEscape(Str(e, "code_version")));
    } else if (ev == "export") {
      // A resume that trains on removes the run's model.onnx until it finishes.
      const std::string onnx = Str(e, "onnx");
      const bool there =
          PathExists(onnx) || (BaseName(onnx) == "model.onnx" && PathExists(run_dir + "/model.onnx"));
      s += Fact("ONNX", "<code>" + HtmlEscape(onnx) + "</code> sha256 <code>" +
                            HtmlEscape(Str(e, "sha256").substr(0, 16)) + "&hellip;</code>" +
                            (there ? "" : " (removed: the run was resumed after it)"));
    } else if (ev == "register") {
      s += Fact("registered", HtmlEscape(Str(e, "name")) + ":" + Str(e, "version") + " in <code>" +
                                  HtmlEscape(Str(e, "registry")) + "</code>");
    } else if (ev == "config_change") {
      s += Fact("config changed on resume", HtmlEscape(Str(e, "changes")));
    } else if (ev == "stop") {
      s += Fact("stopped", "at step " + Str(e, "step"));
    }
  }
  return s + "</dl>";
}

// One row per epoch: a row marked partial (the run ended inside the epoch) is
// dropped when a later row has the same epoch (the resume finished it).
std::vector<json> EpochRows(const std::vector<json>& rows) {
  std::vector<json> out;
  for (const auto& r : rows) {
    if (!out.empty() && Num(out.back(), "epoch") == Num(r, "epoch")) out.pop_back();
    out.push_back(r);
  }
  return out;
}

// done | stopped (at step N) | failed: the reason | running (the lock's
// holder) | killed (no summary, no live lock).
std::string RunState(const std::string& run_dir, const json& summary, const std::vector<json>& events) {
  if (summary.is_object() && !Str(summary, "status").empty()) return Str(summary, "status");
  std::string state;
  for (const auto& e : events) {
    const std::string ev = Str(e, "event");
    if (ev == "stop") state = "stopped at step " + Str(e, "step");
    if (ev == "error") state = "failed: " + Str(e, "reason") + " at step " + Str(e, "step");
    if (ev == "start" || ev == "resume") state.clear();
  }
  if (!state.empty()) return state;
  const std::string holder = LiveLockHolder(run_dir + "/run.lock");
  return holder.empty() ? "killed or crashed (no summary and no live run.lock)" : "running (" + holder + ")";
}

// The newest checkpoint's fitted preprocessing, one row per column, with the
// values the run imputed and clipped (summary.json "preprocess").
std::string Preprocessing(const std::string& run_dir, const std::vector<json>& events, const json& summary) {
  std::string s = "<h2>Preprocessing</h2>";
  for (const auto& e : events) {
    if (Str(e, "event") != "start" || !e.contains("preprocess_notes")) continue;
    for (const auto& n : e["preprocess_notes"])
      s += "<p class=\"sub\">" + HtmlEscape(n.is_string() ? n.get<std::string>() : n.dump()) + "</p>";
  }
  auto manifest = RunCheckpoint(run_dir);
  if (!manifest.ok()) return s + "<p class=\"sub\">no checkpoint to read the fitted parameters from</p>";
  auto ck = ReadCheckpoint(manifest.value());
  if (!ck.ok()) return s + "<p class=\"sub\">" + HtmlEscape(ck.status().message()) + "</p>";
  const Preprocessor& pre = ck.value().pre;
  if (pre.dim() == 0) return s + "<p class=\"sub\">text: hashed n-grams, no per-column preprocessing</p>";
  const auto cols = ParamColumns(pre);
  const json counts = summary.is_object() && summary.contains("preprocess") ? summary["preprocess"] : json();
  const double rows = Num(counts, "rows");
  if (rows > 0) s += "<p class=\"sub\">imputed and clipped: counted over " + Sig3(rows) + " rows read</p>";
  s += "<table><tr><th>column</th><th>imputed</th><th>clipped</th><th>missing filled with</th><th>shift</th>"
       "<th>scale</th><th>clip low</th><th>clip high</th></tr>";
  for (int64_t j = 0; j < pre.dim() && j < 200; ++j) {
    const std::string name =
        j < static_cast<int64_t>(pre.names.size()) ? pre.names[j] : "f" + std::to_string(j);
    s += "<tr>" + Td(HtmlEscape(name));
    for (const char* k : {"imputed", "clipped"}) {
      const double n = counts.is_object() && counts.contains(k) ? Num(counts[k], name.c_str()) : NAN;
      s += Td(!(rows > 0) ? "&ndash;" : std::isnan(n) ? "0" : std::to_string(static_cast<int64_t>(n)), "num");
    }
    for (const auto& c : cols) s += Td(Sig3(c[j]), "num");
    s += "</tr>";
  }
  if (pre.dim() > 200)
    s += "<tr><td colspan=\"8\">(" + std::to_string(pre.dim() - 200) + " more columns)</td></tr>";
  return s + "</table>";
}

}  // namespace

Result<std::string> RunReportHtml(const std::string& run_dir) {
  const std::vector<json> events = JsonLines(run_dir + "/events.jsonl");
  auto summary_text = ReadFile(run_dir + "/summary.json");
  if (events.empty() && !summary_text.ok()) {
    return Status::Usage("'" + run_dir +
                         "' holds no run (no events.jsonl or summary.json); name a run folder");
  }
  const json summary = summary_text.ok() ? json::parse(summary_text.value(), nullptr, false) : json();
  const std::vector<json> metrics = EpochRows(JsonLines(run_dir + "/metrics.jsonl"));
  auto config_text = ReadFile(run_dir + "/config.resolved.toml");
  auto cfg = Config::FromString(config_text.ok() ? config_text.value() : "", "config.resolved.toml", {});
  std::string name = Str(summary, "name");
  if (name.empty() && cfg.ok()) name = cfg.value().Str("name");
  if (name.empty()) name = BaseName(run_dir);
  const std::string state = RunState(run_dir, summary, events);
  std::string metric_name = Str(summary, "val_metric_name");
  if (metric_name.empty())
    metric_name = cfg.ok() && cfg.value().Str("model.task") == "classification" ? "accuracy" : "rmse";
  std::ostringstream s;
  s << "<h1>Run " << HtmlEscape(name) << "</h1><p class=\"sub\"><code>" << HtmlEscape(run_dir)
    << "</code></p>";
  s << "<div class=\"banner " << (state == "done" ? "good" : "bad") << "\">" << HtmlEscape(state);
  if (summary.is_object())
    s << ": " << Str(summary, "steps") << " steps, validation loss " << Sig3(Num(summary, "val_loss")) << ", "
      << HtmlEscape(metric_name) << " " << Sig3(Num(summary, "val_metric"));
  s << "</div><dl>";
  if (summary.is_object()) {
    s << Fact("ranks", Str(summary, "world_size") + " on " + HtmlEscape(Str(summary, "device")) + " (" +
                           HtmlEscape(Str(summary, "backend")) + ")")
      << Fact("rows", Str(summary, "train_rows") + " train, " + Str(summary, "val_rows") + " validation")
      << Fact("throughput",
              Sig3(Num(summary, "samples_per_s")) + " samples/s, " + Sig3(Num(summary, "wall_s")) + " s wall")
      << Fact("config hash", "<code>" + HtmlEscape(Str(summary, "config_hash")) + "</code>")
      << Fact("checkpoint", "<code>" + HtmlEscape(Str(summary, "checkpoint")) + "</code>");
    if (summary.contains("data") && summary["data"].is_object())
      s << Fact("data", HtmlEscape(Str(summary["data"], "mode")) + " mode");
  }
  s << "</dl><h2>Training curves</h2>";
  s << (metrics.empty() ? "<p class=\"sub\">no epoch has ended yet</p>" : Charts(metrics, metric_name));
  s << StepTable(summary) << Lineage(run_dir, events, config_text.ok() ? config_text.value() : "");
  s << Preprocessing(run_dir, events, summary);
  s << "<h2>Resolved config</h2><pre>" << HtmlEscape(config_text.ok() ? config_text.value() : "(missing)")
    << "</pre><p class=\"foot\">driftrun run report, built from the run folder's files; "
       "<code>driftrun report --run RUN</code> rebuilds it.</p>";
  return HtmlPage("Run " + name, s.str(), "run report");
}

Result<std::string> WriteRunReport(const std::string& run_dir) {
  DRIFTRUN_ASSIGN_OR_RETURN(std::string html, RunReportHtml(run_dir));
  const std::string path = run_dir + "/report.html";
  DRIFTRUN_RETURN_IF_ERROR(WriteFileAtomic(path, html));
  return path;
}

}  // namespace driftrun
