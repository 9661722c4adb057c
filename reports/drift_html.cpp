#include "reports/drift_html.h"

#include <algorithm>
#include <sstream>

#include "common/file_util.h"
#include "reports/html.h"
#include "reports/svg.h"

namespace driftrun {
namespace {

std::string FileLine(const char* what, const std::string& path, int64_t rows) {
  return "<dt>" + std::string(what) + "</dt><dd><b>" + HtmlEscape(BaseName(path)) + "</b> &middot; " +
         std::to_string(rows) + " rows &middot; <code>" + HtmlEscape(path) + "</code></dd>";
}

std::string Tag(bool yes, const std::string& text) {
  return std::string("<span class=\"tag ") + (yes ? "yes" : "no") + "\">" + text + "</span>";
}

std::string SummaryRow(const FeatureDrift& f) {
  std::string why = f.drifted        ? "yes (" + HtmlEscape(f.decided_by) + ")"
                    : f.within_noise ? "no (within noise)"
                                     : "no";
  std::string row = std::string("<tr") + (f.drifted ? " class=\"drift\"" : "") + ">";
  row += Td("<a href=\"#" + AnchorId("f", f.name) + "\">" + HtmlEscape(f.name) + "</a>");
  row += Td(f.categorical ? "categorical" : "numerical");
  row += Td(Tag(f.drifted, why));
  row += Td(Sig3(f.score), "num");
  row += Td(Sig3(f.psi), "num");
  row += Td(f.categorical ? PValue(f.chi2_pvalue) + " (&chi;&sup2;)" : PValue(f.ks_pvalue), "num");
  row += Td(Sig3(f.jensen_shannon), "num");
  row += Td(f.categorical ? "&ndash;" : Sig3(f.wasserstein), "num");
  row += Td(Percent(f.ref_missing), "num");
  row += Td(Percent(f.cur_missing), "num");
  row += Td(Sparkline(f.ref_share, f.cur_share, f.drifted));
  return row + "</tr>";
}

std::string FeatureSection(const FeatureDrift& f) {
  std::ostringstream s;
  s << "<h3 id=\"" << AnchorId("f", f.name) << "\">" << HtmlEscape(f.name) << " "
    << Tag(f.drifted, f.drifted ? "drifted by " + HtmlEscape(f.decided_by) : "not drifted") << "</h3>";
  s << "<p class=\"sub\">score " << Sig3(f.score) << " (" << HtmlEscape(f.decided_by) << ")";
  if (f.null_p99 > 0)
    s << "; noise level (99th percentile of same-size reference draws) " << Sig3(f.null_p99);
  s << "; missing " << Percent(f.ref_missing) << " &rarr; " << Percent(f.cur_missing) << "</p>";
  if (f.ref_share.empty()) return s.str() + "<p class=\"sub\">no finite values to draw</p>";
  ChartOptions o;
  o.width = 560;
  o.height = 230;
  o.title = f.name + ": share of rows per bin";
  o.xlabel = f.categorical ? "category (reference order; the last bin: unseen)"
                           : "feature value (bins cut at the reference deciles)";
  o.ylabel = "share of rows";
  s << BinChart(f.categorical ? std::vector<double>() : f.edges, f.ref_share, f.cur_share, f.drifted, o);
  return s.str();
}

}  // namespace

std::string DriftRuleText(const DriftReport& r) {
  const DriftOptions& o = r.opts;
  std::string rule;
  if (r.method == "auto") {
    rule = "KS p-value &lt; " + Sig3(o.ks_pvalue) +
           " when the reference has &le; 1000 rows, else normalised " + "Wasserstein &ge; " +
           Sig3(o.wasserstein) + " (Evidently's rule)";
  } else if (r.method == "psi") {
    rule = "PSI &ge; " + Sig3(o.psi);
  } else if (r.method == "ks") {
    rule = "KS p-value &lt; " + Sig3(o.ks_pvalue);
  } else if (r.method == "wasserstein") {
    rule = "normalised Wasserstein &ge; " + Sig3(o.wasserstein);
  } else if (r.method == "jensenshannon") {
    rule = "Jensen-Shannon distance (bias-corrected) &ge; " + Sig3(o.jensenshannon);
  } else {
    rule = HtmlEscape(r.method);
  }
  return rule + "; any feature whose missing share rises by more than " + Percent(o.missing_rise) +
         " drifts; the dataset drifts when at least " + Percent(o.share) + " of its features do";
}

std::string DriftReportHtml(const DriftReport& r) {
  std::vector<const FeatureDrift*> order;
  for (const auto& f : r.features) order.push_back(&f);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    if (a->drifted != b->drifted) return a->drifted;
    return a->score > b->score;
  });
  std::ostringstream s;
  s << "<h1>Drift report</h1><p class=\"sub\">" << HtmlEscape(BaseName(r.current)) << " against "
    << HtmlEscape(BaseName(r.reference)) << "</p>";
  s << "<div class=\"banner " << (r.dataset_drift ? "bad" : "good") << "\">"
    << (r.dataset_drift ? "Dataset drift detected" : "No dataset drift") << ": " << r.drifted << " of "
    << r.features.size() << " features drifted (" << Percent(r.drift_share) << "; the threshold is "
    << Percent(r.opts.share) << ")</div>";
  s << "<dl>" << FileLine("reference", r.reference, r.ref_rows) << FileLine("current", r.current, r.cur_rows)
    << "<dt>rule</dt><dd>" << DriftRuleText(r) << "</dd><dt>statistics</dt><dd>" << HtmlEscape(r.stats_method)
    << " (exact: from both samples; histogram: from the reference profile's bins)"
    << "</dd></dl>";
  s << "<h2>Features by drift</h2><table><tr><th>feature</th><th>type</th><th>drifted</th><th>score</th>"
       "<th>PSI</th><th>KS p</th><th>JS</th><th>W1 (normalised)</th><th>missing ref</th><th>missing cur</th>"
       "<th>reference vs current</th></tr>";
  for (const auto* f : order) s << SummaryRow(*f);
  s << "</table><h2>Distributions</h2><div class=\"charts\">";
  for (const auto* f : order) s << "<div>" << FeatureSection(*f) << "</div>";
  s << "</div><p class=\"foot\">driftrun drift report. Numbers shown to 3 significant digits; "
       "<code>driftrun drift --json</code> gives them in full.</p>";
  return HtmlPage("Drift report: " + BaseName(r.current), s.str(), "drift report");
}

}  // namespace driftrun
