#include "reports/html.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "reports/dashboard.h"
#include "reports/drift_html.h"
#include "reports/svg.h"

namespace driftrun {
namespace {

TEST(Html, Sig3WritesThreeSignificantDigits) {
  EXPECT_EQ(Sig3(0.264903), "0.265");
  EXPECT_EQ(Sig3(4.25793e-67), "4.26e-67");
  EXPECT_EQ(Sig3(1.0), "1");
  EXPECT_EQ(Sig3(0.1), "0.1");
  EXPECT_EQ(Sig3(12.345), "12.3");
  EXPECT_EQ(Sig3(123.45), "123");
  EXPECT_EQ(Sig3(174120.4), "174000");
  EXPECT_EQ(Sig3(-0.0123456), "-0.0123");
  EXPECT_EQ(Sig3(0.00123456), "0.00123");
  EXPECT_EQ(Sig3(2.5e7), "2.5e+07");
  EXPECT_EQ(Sig3(0.0), "0");
  EXPECT_EQ(Sig3(std::nan("")), "n/a");
  EXPECT_EQ(Sig3(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(Sig3(0.99996), "1");
}

TEST(Html, PValuesBelowTheFloorAreWrittenAsABound) {
  EXPECT_EQ(PValue(4.2e-67), "&lt; 1e-4");
  EXPECT_EQ(PValue(9.9e-5), "&lt; 1e-4");
  EXPECT_EQ(PValue(0.0001), "0.0001");
  EXPECT_EQ(PValue(0.0312), "0.0312");
  EXPECT_EQ(Percent(0.125), "12.5%");
}

TEST(Html, EscapeCoversMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("<b a=\"x\">'&'</b>"), "&lt;b a=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;");
  const std::string page = HtmlPage("a < b", "<p>x</p>", "drift report");
  EXPECT_NE(page.find("<title>a &lt; b</title>"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos) << "reports carry no script";
  EXPECT_EQ(page.find("http://"), std::string::npos) << "nothing is fetched";
}

TEST(Svg, NiceTicksCoverTheRangeWithRoundSteps) {
  const auto t = NiceTicks(0.13, 0.92, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_NEAR(t.front(), 0.2, 1e-12);
  EXPECT_NEAR(t.back(), 0.8, 1e-12);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], 0.2, 1e-12);
  EXPECT_TRUE(NiceTicks(1, 1, 5).empty());
  EXPECT_TRUE(NiceTicks(0, std::nan(""), 5).empty());
}

TEST(Svg, LineChartHasAxesLabelsAndOnePathPerSeries) {
  Series a{"train loss", {1, 2, 3}, {0.9, 0.5, 0.3}};
  Series b{"validation loss", {1, 2, 3}, {1.0, std::nan(""), 0.4}, "#e8590c", true};
  ChartOptions o;
  o.xlabel = "epoch";
  o.ylabel = "loss";
  o.title = "Loss <per> epoch";
  const std::string svg = LineChart({a, b}, o);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find(">epoch</text>"), std::string::npos);
  EXPECT_NE(svg.find(">loss</text>"), std::string::npos);
  EXPECT_NE(svg.find("Loss &lt;per&gt; epoch"), std::string::npos) << "titles are escaped";
  size_t paths = 0;
  for (size_t p = svg.find("<path"); p != std::string::npos; p = svg.find("<path", p + 1)) ++paths;
  EXPECT_EQ(paths, 2u);
  // The NaN breaks the validation line into two pieces: two "M" moves.
  const size_t second = svg.find("<path", svg.find("<path") + 1);
  const std::string d = svg.substr(second, svg.find("/>", second) - second);
  EXPECT_EQ(std::count(d.begin(), d.end(), 'M'), 2) << d;
  EXPECT_NE(LineChart({}, o).find("no data"), std::string::npos);
}

// Two epochs tick "1" and "2" (not 1.5); ticks over a narrow range read
// distinct values.
TEST(Svg, EpochAxesTickWholeNumbersAndNarrowRangesStayDistinct) {
  ChartOptions o;
  o.integer_x = true;
  const std::string svg = LineChart({{"rmse", {1, 2}, {1.07012, 1.07018}}}, o);
  EXPECT_NE(svg.find(">1</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">2</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">1.5</text>"), std::string::npos);
  std::vector<std::string> labels;
  for (size_t p = svg.find("text-anchor=\"end\">"); p != std::string::npos;
       p = svg.find("text-anchor=\"end\">", p + 1)) {
    const size_t b = p + 18;
    labels.push_back(svg.substr(b, svg.find('<', b) - b));
  }
  ASSERT_GE(labels.size(), 3u);
  for (size_t i = 1; i < labels.size(); ++i) EXPECT_NE(labels[i], labels[i - 1]) << svg;
  o.percent_y = true;
  o.y_max = 1;
  const std::string shares = LineChart({{"share", {1, 2}, {0, 0.5}}}, o);
  EXPECT_NE(shares.find(">50%</text>"), std::string::npos) << shares;
  EXPECT_NE(shares.find(">100%</text>"), std::string::npos) << "the axis spans 0..y_max";
}

TEST(DriftHtml, SummarySortsByDriftAndNamesBothFiles) {
  DriftReport r;
  r.reference = "/data/ref.profile.h5";
  r.current = "/data/batch-003.h5";
  r.ref_rows = 20000;
  r.cur_rows = 512;
  r.method = "auto";
  r.stats_method = "histogram";
  r.dataset_drift = true;
  r.drifted = 1;
  r.drift_share = 0.5;
  FeatureDrift calm, moved;
  calm.name = "calm<&>";
  calm.score = 0.01;
  calm.ks_pvalue = 0.8123456;
  moved.name = "moved";
  moved.drifted = true;
  moved.decided_by = "wasserstein";
  moved.score = 0.734567;
  moved.ks_pvalue = 4.25793e-67;
  moved.edges = {-1, 0, 1};
  moved.ref_share = {0.25, 0.25, 0.25, 0.25};
  moved.cur_share = {0.05, 0.15, 0.3, 0.5};
  r.features = {calm, moved};
  const std::string html = DriftReportHtml(r);
  EXPECT_NE(html.find("ref.profile.h5"), std::string::npos);
  EXPECT_NE(html.find("batch-003.h5"), std::string::npos);
  EXPECT_NE(html.find("20000 rows"), std::string::npos);
  EXPECT_NE(html.find("Dataset drift detected"), std::string::npos);
  const size_t table = html.find("Features by drift");
  EXPECT_LT(html.find(">moved</a>", table), html.find(">calm&lt;&amp;&gt;</a>", table)) << "sorted by drift";
  EXPECT_NE(html.find("&lt; 1e-4"), std::string::npos);
  EXPECT_NE(html.find("0.812"), std::string::npos);
  EXPECT_EQ(html.find("0.81234"), std::string::npos) << "3 significant digits";
  EXPECT_EQ(html.find("4.25793e-67"), std::string::npos);
  EXPECT_NE(html.find("feature value (bins cut at the reference deciles)"), std::string::npos);
}

// A status object as scheduler/service_status.h gathers it: the dashboard
// shows the running job in the queue, the rejection with its verdict's reason
// beside the promotions, and escapes what came from files and configs.
TEST(Dashboard, QueueRejectionsAndPromotions) {
  const auto status = nlohmann::json::parse(R"({
    "state": "/srv/state", "now": 1800000100, "pending_signals": 1,
    "service": {"running": true, "holder": "host=a pid=7"},
    "models": [{
      "name": "m<1>", "production": 1, "pending_batches": 0, "next_trigger_allowed": 0,
      "incoming": "/in", "drift_share_threshold": 0.25,
      "batches": [
        {"scored_at": 1800000050, "file": "/in/b2.h5", "rows": 10, "drift_share": 0.5, "drifted": true,
         "decision": "scored", "action": "queue", "reason": "drift"},
        {"scored_at": 1800000010, "file": "/in/b1.h5", "rows": 10, "drift_share": 0.0, "drifted": false,
         "decision": "scored", "action": "none", "reason": "calm"}],
      "jobs": [
        {"id": 3, "state": "running", "trigger": "drift", "priority": 0, "queued_at": 1800000090,
         "started_at": 1800000091, "ended_at": 0, "version": 0, "reason": "",
         "pool": {"step": 7, "total_steps": 40, "samples_per_s": 1234.5}},
        {"id": 2, "state": "rejected", "trigger": "drift", "queued_at": 1800000060, "ended_at": 1800000080,
         "version": 2, "reason": "stays candidate demo:2: production moved to demo:3",
         "verdict": {"reason": "to be promoted once approved: better"}},
        {"id": 1, "state": "promoted", "trigger": "initial", "queued_at": 1800000000, "ended_at": 1800000005,
         "version": 1, "reason": "first model"}],
      "history": [{"event": "alias", "alias": "production", "from": null, "to": 1, "who": "driftrun-serve",
                   "at": "2027-01-15T08:00:05Z", "why": "first model", "kind": "promote"},
                  {"event": "alias", "alias": "candidate", "from": null, "to": 2, "who": "x",
                   "at": "2027-01-15T08:01:00Z", "why": "", "kind": "register"}]}]})");
  const std::string html = DashboardHtml(status);
  const size_t queue = html.find("Queue and running jobs");
  EXPECT_NE(html.find("step 7/40, 1230 samples/s", queue), std::string::npos) << "the running job's progress";
  EXPECT_NE(html.find("m&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("m<1>"), std::string::npos) << "names are escaped";
  const size_t hist = html.find("Production history"), batches = html.find("Recent batches");
  const std::string h = html.substr(hist, batches - hist);
  EXPECT_NE(h.find("stays candidate demo:2: production moved to demo:3"), std::string::npos)
      << "the rejection's reason";
  EXPECT_EQ(h.find("to be promoted once approved"), std::string::npos)
      << "not the verdict of a rejected version";
  EXPECT_NE(h.find("none &rarr; 1"), std::string::npos);
  EXPECT_EQ(h.find("register"), std::string::npos) << "only the production alias";
  EXPECT_LT(h.find("rejected"), h.find("none &rarr; 1")) << "newest first";
  EXPECT_NE(html.find(">threshold 25%</text>"), std::string::npos);
  EXPECT_NE(html.find(">retrain 3</text>"), std::string::npos);
  EXPECT_NE(html.find(">retrain 2</text>"), std::string::npos);
  EXPECT_EQ(html.find(">retrain 1</text>"), std::string::npos) << "the initial training is not a retrain";
  EXPECT_EQ(html.find("http-equiv"), std::string::npos);
  EXPECT_NE(DashboardHtml(status, 10).find("http-equiv=\"refresh\" content=\"10\""), std::string::npos);
}

}  // namespace
}  // namespace driftrun
