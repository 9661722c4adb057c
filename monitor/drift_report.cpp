// Drift reports for scripts (JSON) and for people (HTML with inline SVG
// histograms): DriftReport::ToJson and ToHtml (monitor/drift.h).
#include <cmath>
#include <sstream>

#include "monitor/drift.h"

namespace driftrun {

nlohmann::json DriftReport::ToJson() const {
  nlohmann::json feats = nlohmann::json::array();
  for (const auto& f : features) {
    if (f.categorical) {
      feats.push_back({{"name", f.name},
                       {"kind", "categorical"},
                       {"psi", f.psi},
                       {"chi2_statistic", f.chi2_statistic},
                       {"chi2_pvalue", f.chi2_pvalue},
                       {"jensen_shannon", f.jensen_shannon},
                       {"jensen_shannon_corrected", f.jensen_shannon_corrected},
                       {"drifted", f.drifted},
                       {"decided_by", f.decided_by},
                       {"score", f.score}});
      continue;
    }
    feats.push_back({{"name", f.name},
                     {"kind", "numerical"},
                     {"psi", f.psi},
                     {"psi_level", std::isnan(f.psi)         ? "none"
                                   : f.psi >= opts.psi       ? "drift"
                                   : f.psi >= opts.psi_watch ? "watch"
                                                             : "stable"},
                     {"ks_statistic", f.ks_statistic},
                     {"ks_pvalue", f.ks_pvalue},
                     {"jensen_shannon", f.jensen_shannon},
                     {"jensen_shannon_corrected", f.jensen_shannon_corrected},
                     {"wasserstein", f.wasserstein},
                     {"drifted", f.drifted},
                     {"decided_by", f.decided_by},
                     {"score", f.score},
                     {"null_p99", f.null_p99},
                     {"within_noise", f.within_noise},
                     {"missing_rate_reference", f.ref_missing},
                     {"missing_rate_current", f.cur_missing}});
  }
  return {{"dataset_drift", dataset_drift},
          {"drift_share", drift_share},
          {"drifted_features", drifted},
          {"n_features", features.size()},
          {"method", method},
          {"statistics", stats_method},
          {"thresholds",
           {{"share", opts.share},
            {"ks_pvalue", opts.ks_pvalue},
            {"wasserstein", opts.wasserstein},
            {"psi", opts.psi},
            {"psi_watch", opts.psi_watch},
            {"jensenshannon", opts.jensenshannon},
            {"missing_rise", opts.missing_rise}}},
          {"reference", {{"path", reference}, {"rows", ref_rows}}},
          {"current", {{"path", current}, {"rows", cur_rows}}},
          {"features", feats}};
}

namespace {

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

// Reference (grey) and current (colour) shares per decile bin as an inline SVG.
std::string BarsSvg(const FeatureDrift& f) {
  std::ostringstream s;
  const int w = 420, h = 120, n = static_cast<int>(f.ref_share.size());
  double top = 1e-9;
  for (int k = 0; k < n; ++k) top = std::max({top, f.ref_share[k], f.cur_share[k]});
  s << "<svg width=\"" << w << "\" height=\"" << h + 20 << "\" role=\"img\"><title>" << Escape(f.name)
    << ": reference vs current share per reference decile</title>";
  const double bw = static_cast<double>(w) / std::max(1, n);
  for (int k = 0; k < n; ++k) {
    const double rh = h * f.ref_share[k] / top, ch = h * f.cur_share[k] / top;
    s << "<rect x=\"" << k * bw + 2 << "\" y=\"" << h - rh << "\" width=\"" << bw / 2 - 2 << "\" height=\""
      << rh << "\" fill=\"#9aa5b1\"/>";
    s << "<rect x=\"" << k * bw + bw / 2 << "\" y=\"" << h - ch << "\" width=\"" << bw / 2 - 2
      << "\" height=\"" << ch << "\" fill=\"" << (f.drifted ? "#d9480f" : "#1c7ed6") << "\"/>";
  }
  s << "<text x=\"0\" y=\"" << h + 15
    << "\" font-size=\"11\">grey: reference, colour: current (bins: reference "
    << "deciles)</text></svg>";
  return s.str();
}

}  // namespace

std::string DriftReport::ToHtml() const {
  std::vector<const FeatureDrift*> order;
  for (const auto& f : features) order.push_back(&f);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->score > b->score; });
  std::ostringstream s;
  s << "<!doctype html><html><head><meta charset=\"utf-8\"><title>driftrun drift report</title><style>"
       "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 8px;"
       "text-align:right}.d{color:#d9480f;font-weight:bold}</style></head><body>";
  s << "<h1>Drift report: " << (dataset_drift ? "<span class=d>dataset drift</span>" : "no dataset drift")
    << "</h1>";
  s << "<p>" << drifted << " of " << features.size() << " features drifted (share " << drift_share
    << ", threshold " << opts.share << "); rule: " << Escape(method) << "; statistics: " << stats_method
    << "</p><p>reference: " << Escape(reference) << " (" << ref_rows << " rows); current: " << Escape(current)
    << " (" << cur_rows << " rows)</p>";
  for (const auto* f : order) {
    s << "<h2" << (f->drifted ? " class=d" : "") << ">" << Escape(f->name) << (f->drifted ? " (drifted)" : "")
      << "</h2><table><tr><th>PSI</th><th>KS</th><th>KS p</th><th>JS</th><th>Wasserstein (normed)</th>"
      << "<th>missing ref/cur</th></tr><tr><td>" << f->psi << "</td><td>" << f->ks_statistic << "</td><td>"
      << f->ks_pvalue << "</td><td>" << f->jensen_shannon << "</td><td>" << f->wasserstein << "</td><td>"
      << f->ref_missing << " / " << f->cur_missing << "</td></tr></table>";
    if (!f->ref_share.empty()) s << BarsSvg(*f);
  }
  s << "</body></html>\n";
  return s.str();
}

}  // namespace driftrun
