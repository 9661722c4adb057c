#include "runner/registry_view.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "common/json_get.h"
#include "common/text.h"

namespace driftrun {
namespace {

// A JSON value as people read it: strings escaped, floats shortest, null "-".
std::string Val(const nlohmann::json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return EscapeForConsole(j.get<std::string>());
  if (j.is_number_float()) return FormatDouble(j.get<double>());
  if (j.is_number()) return j.dump();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return EscapeForConsole(j.dump());
}

// record[key] as people read it ("-" when absent).
std::string Field(const nlohmann::json& record, const char* key) {
  return Val(JsonAt(record, key));
}

std::string Joined(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + EscapeForConsole(s);
  return out.empty() ? "-" : out;
}

std::string HoldoutLoss(const VersionRecord& v) {
  return Field(JsonObjectAt(JsonObjectAt(v.record, "metrics"), "holdout"), "loss");
}

void Line(std::ostringstream& os, const std::string& key, const std::string& value, int indent = 2) {
  os << std::string(indent, ' ') << key << ":" << std::string(key.size() < 18 ? 18 - key.size() : 1, ' ')
     << value << "\n";
}

}  // namespace

std::string VersionTable(const std::vector<VersionRecord>& versions) {
  // Every column as wide as its widest cell, so the table stays aligned
  // whatever the names, times and aliases are.
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "VER", "CREATED", "KIND", "HOLDOUT_LOSS", "ALIASES", "APPROVED", "TRIGGER"}};
  for (const auto& v : versions) {
    rows.push_back({EscapeForConsole(v.name), std::to_string(v.version), EscapeForConsole(v.created),
                    Field(v.record, "kind"), HoldoutLoss(v), Joined(v.aliases, ","),
                    v.approvals.empty() ? "no" : "yes", Field(v.record, "trigger")});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::ostringstream os;
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) {
      const bool last = c + 1 == r.size();
      const std::string pad(width[c] - r[c].size(), ' ');
      os << (c == 1 ? pad + r[c] : r[c] + (last ? "" : pad)) << (last ? "\n" : "  ");
    }
  }
  return os.str();
}

// One audit event (Registry::History) as a line without its time.
std::string EventText(const nlohmann::json& e) {
  const std::string ev = e.value("event", "alias");
  if (ev == "approval") {
    const std::string note = Field(e, "why");
    return "approval of version " + Field(e, "version") + " by " + Field(e, "who") +
           (note.empty() || note == "-" ? "" : ": " + note);
  }
  if (ev == "policy") {
    const nlohmann::json p = JsonObjectAt(e, "policy");
    std::vector<std::string> gated;
    if (p.contains("gated") && p["gated"].is_array())
      for (const auto& g : p["gated"]) gated.push_back(g.is_string() ? g.get<std::string>() : g.dump());
    return "policy set by " + Field(e, "who") + ": gated " + Joined(gated) + ", require_approval " +
           Field(p, "require_approval") + ", separate_approver " + Field(p, "separate_approver") +
           ", tolerance " + Field(p, "tolerance") +
           (Field(e, "why").empty() ? "" : " (" + Field(e, "why") + ")");
  }
  const std::string kind = Field(e, "kind");
  const std::string from = Field(e, "from") == "-" ? "" : Field(e, "from") + " -> ";
  std::string gate;
  const nlohmann::json d = JsonObjectAt(e, "details");
  if (d.contains("candidate_loss")) {
    gate = " [holdout loss " + Field(d, "candidate_loss") + " vs " + Field(d, "holder_loss") + "]";
  }
  if (d.value("holder_damaged", false)) gate += " [holder's artifacts damaged]";
  return "@" + Field(e, "alias") + " " + (kind == "noop" ? "stays at " : from) + Field(e, "to") + " " +
         (kind.empty() || kind == "-" ? "promote" : kind) + " by " + Field(e, "who") + ": " +
         Field(e, "why") + gate;
}

std::string HistoryText(const nlohmann::json& history) {
  std::ostringstream os;
  for (const auto& e : history) os << Field(e, "at") << "  " << EventText(e) << "\n";
  if (history.empty()) os << "(no events)\n";
  return os.str();
}

std::string VersionDetails(const VersionRecord& v, const nlohmann::json& history) {
  std::ostringstream os;
  const nlohmann::json& r = v.record;
  os << EscapeForConsole(v.name) << ":" << v.version << "\n";
  Line(os, "run", EscapeForConsole(v.run_id));
  Line(os, "created", EscapeForConsole(v.created));
  Line(os, "model", Field(r, "kind") + ", " + Field(r, "task"));
  Line(os, "trigger", Field(r, "trigger"));
  // The service's champion-vs-challenger reason: why it was promoted, or stayed a candidate.
  if (!JsonObjectAt(r, "verdict").empty()) Line(os, "verdict", Field(JsonObjectAt(r, "verdict"), "reason"));
  Line(os, "parent version", Field(r, "parent_version"));
  Line(os, "aliases", Joined(v.aliases));
  if (v.approvals.empty()) Line(os, "approvals", "-");
  for (const auto& a : v.approvals)
    Line(os, "approved by", Field(a, "by") + " at " + Field(a, "at") + ": " + Field(a, "note"));
  os << "metrics (holdout):\n";
  const nlohmann::json h = JsonObjectAt(JsonObjectAt(r, "metrics"), "holdout");
  Line(os, "loss", Field(h, "loss"));
  const std::string metric_name = Field(h, "metric_name");
  Line(os, metric_name == "-" || metric_name.empty() ? "metric" : metric_name, Field(h, "metric"));
  Line(os, "rows", Field(h, "rows"));
  os << "lineage:\n";
  Line(os, "run dir", Field(r, "run_dir"));
  Line(os, "config hash", Field(r, "config_hash"));
  Line(os, "data fingerprint", Field(r, "data_fingerprint"));
  Line(os, "code version", Field(r, "code_version"));
  Line(os, "seed", Field(r, "seed"));
  Line(os, "world size", Field(r, "world_size"));
  std::vector<std::string> libs;
  const nlohmann::json libraries = JsonObjectAt(r, "libraries");
  for (const auto& [k, val] : libraries.items()) libs.push_back(k + " " + Val(val));
  Line(os, "libraries", Joined(libs));
  os << "artifacts:\n";
  for (const auto& a : v.artifacts) {
    Line(os, EscapeForConsole(a.kind),
         EscapeForConsole(a.path) + " (" + std::to_string(a.bytes) + " bytes, sha256 " +
             a.sha256.substr(0, 16) + "...)");
  }
  os << "alias history (" << EscapeForConsole(v.name) << "):\n";
  for (const auto& e : history) {
    if (e.value("event", "alias") == "alias") Line(os, Field(e, "at"), EventText(e));
  }
  os << "(the full record, config included: driftrun registry show " << EscapeForConsole(v.name) << ":"
     << v.version << " --json)\n";
  return os.str();
}

}  // namespace driftrun
