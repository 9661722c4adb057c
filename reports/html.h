// Building blocks of driftrun's static HTML reports (drift, run, service
// dashboard): escaping, numbers written for people, and the page around a
// report. A report is one file: inline CSS and SVG, no script, nothing fetched.
//
// Numbers are shown to 3 significant digits (p-values below 1e-4 as "< 1e-4");
// the JSON beside each report keeps full precision. Thread-safe (pure).
#pragma once

#include <string>

#include "common/status.h"

namespace driftrun {

// Text for an HTML element or attribute value: & < > " ' escaped.
std::string HtmlEscape(const std::string& s);

// 3 significant digits without trailing zeros ("0.265", "1.23e+04" only for
// |v| >= 1e6 or < 1e-3); NaN is "n/a", infinities "inf" / "-inf".
std::string Sig3(double v);

// A p-value: "< 1e-4" below 1e-4, else Sig3.
std::string PValue(double p);

// A share as a percentage with up to 3 significant digits ("12.5%").
std::string Percent(double share);

// The whole document: doctype, charset, title, the reports' shared CSS, body;
// marked as driftrun's `kind` of report ("drift report", "run report",
// "service dashboard") for CheckReportPath.
std::string HtmlPage(const std::string& title, const std::string& body, const std::string& kind);

// Where a report of `kind` may be written (`flag` names it in messages):
// Status::Usage when `path` is a folder, when its folder does not exist, or
// when it exists and is not an earlier report of the same kind (a checkpoint,
// a data file, a database, a page of the user's, another kind of report:
// writing would destroy it; found by a stranger: a drift report replaced a
// dashboard). A report from before kinds were marked is replaced.
Status CheckReportPath(const std::string& path, const std::string& flag, const std::string& kind);

// An HTML id for `name`: "<prefix>-" plus its letters, digits, '-' and '_',
// and a short hash of the whole name (so "a b" and "a_b" differ).
std::string AnchorId(const std::string& prefix, const std::string& name);

// A table cell (<td>) with `text` already escaped or built as HTML; `cls` is
// an optional class ("num" right-aligns).
std::string Td(const std::string& html, const std::string& cls = "");

}  // namespace driftrun
