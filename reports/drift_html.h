// The drift report as a page (`driftrun drift --html`): a header with both
// files, their row counts and the decision with its rule; a table of every
// feature sorted by drift score (drifted, PSI, KS p, JS, normalised W1,
// missing shares, a sparkline); then per feature an overlaid histogram with
// labelled axes. Numbers to 3 significant digits; the JSON report keeps full
// precision. Thread-safe (pure).
#pragma once

#include <string>

#include "monitor/drift.h"

namespace driftrun {

std::string DriftReportHtml(const DriftReport& r);

// The flagging rule in words ("KS p-value < 0.05 (reference <= 1000 rows) ...").
std::string DriftRuleText(const DriftReport& r);

}  // namespace driftrun
