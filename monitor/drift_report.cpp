// Drift reports for scripts (JSON) and for people (HTML with inline SVG
// histograms): DriftReport::ToJson (monitor/drift.h); the page is reports/drift_html.h.
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

}  // namespace driftrun
