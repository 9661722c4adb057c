// Inline SVG charts for the HTML reports: line charts with labelled axes
// (loss curves, drift share over time), binned overlays (reference vs current
// histograms) and table sparklines. Each returns one <svg> element; text in it
// is escaped here. Thread-safe (pure).
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace driftrun {

struct Series {
  std::string name;       // legend
  std::vector<double> x;  // same length as y; NaN y values leave a gap
  std::vector<double> y;
  std::string color = "#1c7ed6";
  bool dashed = false;
  bool points = false;  // a dot at every point (few points, or events)
};

struct ChartOptions {
  int width = 520, height = 240;
  std::string title, xlabel, ylabel;
  bool log_y = false;  // log10 axis (positive values only; others are left out)
  // Horizontal reference lines (value, label), e.g. a threshold.
  std::vector<std::pair<double, std::string>> hlines;
  // Vertical marks (x, label), e.g. retrains.
  std::vector<std::pair<double, std::string>> vmarks;
  // x values are seconds since the epoch: ticks show UTC times.
  bool time_x = false;
  bool integer_x = false;  // ticks at whole numbers only (epochs)
  bool percent_y = false;  // y values are shares: ticks read "20%"
  double y_max = NAN;      // the y axis reaches at least this far (NaN: the data decide)
};

// About n "nice" tick values covering [lo, hi] (1, 2, 5 times a power of 10).
std::vector<double> NiceTicks(double lo, double hi, int n);

// A line chart of `series` with axes, ticks, axis labels and a legend. With no
// finite point at all it draws the frame and says "no data".
std::string LineChart(const std::vector<Series>& series, const ChartOptions& o);

// Two shares per bin side by side (grey reference, coloured current), bins
// labelled by `edges` (the cut points between bins: edges.size() + 1 bins) or,
// when edges do not fit, by bin number; y axis: share of rows.
std::string BinChart(const std::vector<double>& edges, const std::vector<double>& ref_share,
                     const std::vector<double>& cur_share, bool drifted, const ChartOptions& o);

// A 120x28 picture for a table row: reference (grey) and current (coloured)
// shares per bin as two lines.
std::string Sparkline(const std::vector<double>& ref_share, const std::vector<double>& cur_share,
                      bool drifted);

}  // namespace driftrun
