#include "reports/html.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>

#include "common/file_util.h"

namespace driftrun {

std::string HtmlEscape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string Sig3(double v) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  char buf[64];
  const double a = std::fabs(v);
  if (a < 1e-3 || a >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.3g", v);  // 4.26e-67, 1.23e+07
    return buf;
  }
  const int magnitude = static_cast<int>(std::floor(std::log10(a)));
  if (magnitude >= 2) {  // 123, 1230, 123000: rounded to 3 digits, no decimals
    const double unit = std::pow(10.0, magnitude - 2);
    std::snprintf(buf, sizeof(buf), "%.0f", std::round(v / unit) * unit);
    return buf;
  }
  std::snprintf(buf, sizeof(buf), "%.*f", 2 - magnitude, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string PValue(double p) {
  if (!std::isnan(p) && p < 1e-4) return "&lt; 1e-4";
  return Sig3(p);
}

std::string Percent(double share) {
  if (std::isnan(share)) return "n/a";
  return Sig3(share * 100) + "%";
}

namespace {
// What marks a page as driftrun's: only those are replaced by a new report.
constexpr const char* kGeneratorMeta = "<meta name=\"generator\" content=\"driftrun\">";
}  // namespace

std::string KindMeta(const std::string& kind) {
  return "<meta name=\"driftrun-report\" content=\"" + HtmlEscape(kind) + "\">";
}

Status CheckReportPath(const std::string& path, const std::string& flag, const std::string& kind) {
  return CheckOutputPath(path, flag, "a driftrun " + kind + " (HTML)", [&kind](const std::string& p) {
    const std::string head = FileHead(p, 512);
    // Reports of driftrun before the marker began exactly so.
    static const char* kLegacy = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>";
    if (head.rfind(kLegacy, 0) == 0) return true;
    if (head.find(kGeneratorMeta) == std::string::npos) return false;
    return head.find("<meta name=\"driftrun-report\"") == std::string::npos ||  // before kinds were marked
           head.find(KindMeta(kind)) != std::string::npos;
  });
}

std::string AnchorId(const std::string& prefix, const std::string& name) {
  std::string id = prefix + "-";
  uint32_t h = 2166136261u;
  for (unsigned char c : name) {
    h = (h ^ c) * 16777619u;
    if (std::isalnum(c) || c == '-' || c == '_') id += static_cast<char>(c);
  }
  char buf[16];
  std::snprintf(buf, sizeof(buf), "-%08x", h);
  return id + buf;
}

std::string Td(const std::string& html, const std::string& cls) {
  return cls.empty() ? "<td>" + html + "</td>" : "<td class=\"" + cls + "\">" + html + "</td>";
}

std::string HtmlPage(const std::string& title, const std::string& body, const std::string& kind) {
  static const char* kCss =
      "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px "
      "auto;max-width:1100px;"
      "color:#212529;padding:0 16px}"
      "h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.25em;margin-top:28px;border-bottom:1px solid "
      "#dee2e6}"
      "h3{font-size:1.05em;margin:18px 0 4px}"
      ".sub{color:#495057;margin-top:0}.banner{padding:10px 14px;border-radius:6px;margin:12px 0;"
      "font-weight:600}.bad{background:#fff4e6;border:1px solid #ffa94d;color:#a34400}"
      ".good{background:#ebfbee;border:1px solid #8ce99a;color:#1b6e2b}"
      "table{border-collapse:collapse;margin:8px 0;font-size:0.92em}"
      "th,td{padding:4px 10px;border-bottom:1px solid #e9ecef;text-align:left;vertical-align:middle}"
      "th{background:#f1f3f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
      "td.t{white-space:nowrap}tr.drift "
      "td:first-child{font-weight:600;color:#c2410c}.tag{display:inline-block;padding:1px 7px;"
      "border-radius:9px;font-size:0.85em;white-space:nowrap}.tag.yes{background:#ffe8cc;color:#a34400}"
      ".tag.no{background:#e9ecef;color:#495057}.tag.ok{background:#d3f9d8;color:#1b6e2b}"
      "dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}dt{color:#495057}dd{margin:0}"
      "pre{background:#f8f9fa;padding:10px;overflow:auto;font-size:0.85em;border:1px solid #e9ecef}"
      ".charts{display:flex;flex-wrap:wrap;gap:12px}svg text{font-family:inherit}"
      ".foot{color:#868e96;font-size:0.85em;margin-top:32px}";
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" + std::string(kGeneratorMeta) +
         KindMeta(kind) + "<title>" + HtmlEscape(title) + "</title><style>" + kCss +
         "</style></head><body>\n" + body + "\n</body></html>\n";
}

}  // namespace driftrun
