#include "reports/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <sstream>

#include "reports/html.h"

namespace driftrun {
namespace {

std::string F(double v) {  // coordinates: one decimal
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string TimeLabel(double t, double span) {
  std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), span > 2 * 86400 ? "%m-%d %H:%M" : "%H:%M:%S", &tm);
  return buf;
}

struct Frame {
  Frame(double x0_, double x1_, double y0_, double y1_, const ChartOptions& o, bool log)
      : x0(x0_), x1(x1_), y0(y0_), y1(y1_), w(o.width), h(o.height), log_y(log) {}
  double x0, x1, y0, y1;  // data range
  double left = 62, right = 16, top = 42, bottom = 46;
  int w, h;
  bool log_y;
  double X(double x) const { return left + (x - x0) / (x1 - x0) * (w - left - right); }
  double Y(double y) const {
    const double v = log_y ? std::log10(y) : y;
    return h - bottom - (v - y0) / (y1 - y0) * (h - top - bottom);
  }
};

std::string Header(const ChartOptions& o) {
  std::ostringstream s;
  s << "<svg width=\"" << o.width << "\" height=\"" << o.height << "\" viewBox=\"0 0 " << o.width << " "
    << o.height << "\" role=\"img\"><title>" << HtmlEscape(o.title)
    << "</title><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>";
  if (!o.title.empty())
    s << "<text x=\"" << o.width / 2
      << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"600\">" << HtmlEscape(o.title)
      << "</text>";
  return s.str();
}

// The two axis lines and the axis labels; closes the <g> the caller opened.
std::string AxisLines(const Frame& f, const ChartOptions& o) {
  std::ostringstream s;
  const double bx = f.h - f.bottom;
  s << "<line x1=\"" << F(f.left) << "\" x2=\"" << F(f.w - f.right) << "\" y1=\"" << F(bx) << "\" y2=\""
    << F(bx) << "\" stroke=\"#868e96\"/><line x1=\"" << F(f.left) << "\" x2=\"" << F(f.left) << "\" y1=\""
    << F(f.top) << "\" y2=\"" << F(bx) << "\" stroke=\"#868e96\"/>";
  s << "<text x=\"" << F((f.left + f.w - f.right) / 2) << "\" y=\"" << F(f.h - 8)
    << "\" text-anchor=\"middle\" font-size=\"11\">" << HtmlEscape(o.xlabel) << "</text>";
  s << "<text transform=\"translate(13," << F((f.top + bx) / 2)
    << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">" << HtmlEscape(o.ylabel) << "</text></g>";
  return s.str();
}

// A tick's label: as many decimals as the step between ticks needs (so
// neighbouring ticks never read the same), as a percentage when asked.
std::string TickLabel(double v, double step, bool percent) {
  if (percent) v *= 100, step *= 100;
  if (!(step > 1e-9) || std::fabs(v) >= 1e6) return Sig3(v) + (percent ? "%" : "");
  const int decimals = std::max(0, std::min(8, static_cast<int>(std::ceil(-std::log10(step) - 1e-9))));
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f%s", decimals, v, percent ? "%" : "");
  return buf;
}

// x ticks: whole numbers only on integer and time axes (epochs, seconds).
std::vector<double> XTicks(const Frame& f, const ChartOptions& o) {
  std::vector<double> t = NiceTicks(f.x0, f.x1, o.time_x ? 4 : 6);
  if (!(o.integer_x || o.time_x) || (t.size() > 1 && t[1] - t[0] >= 1)) return t;
  t.clear();
  for (double v = std::ceil(f.x0); v <= f.x1 && t.size() < 12; v += 1) t.push_back(v);
  return t;
}

// Axes, ticks, grid and axis labels.
std::string Axes(const Frame& f, const ChartOptions& o) {
  std::ostringstream s;
  const double bx = f.h - f.bottom;
  s << "<g font-size=\"10\" fill=\"#495057\">";
  const std::vector<double> yt = f.log_y ? std::vector<double>() : NiceTicks(f.y0, f.y1, 5);
  if (f.log_y) {
    for (double e = std::ceil(f.y0); e <= std::floor(f.y1); e += 1) {
      const double y = f.h - f.bottom - (e - f.y0) / (f.y1 - f.y0) * (f.h - f.top - f.bottom);
      s << "<line x1=\"" << F(f.left) << "\" x2=\"" << F(f.w - f.right) << "\" y1=\"" << F(y) << "\" y2=\""
        << F(y) << "\" stroke=\"#e9ecef\"/><text x=\"" << F(f.left - 6) << "\" y=\"" << F(y + 3)
        << "\" text-anchor=\"end\">" << Sig3(std::pow(10.0, e)) << "</text>";
    }
  }
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 0;
  for (double v : yt) {
    const double y = f.Y(v);
    s << "<line x1=\"" << F(f.left) << "\" x2=\"" << F(f.w - f.right) << "\" y1=\"" << F(y) << "\" y2=\""
      << F(y) << "\" stroke=\"#e9ecef\"/><text x=\"" << F(f.left - 6) << "\" y=\"" << F(y + 3)
      << "\" text-anchor=\"end\">" << TickLabel(v, ystep, o.percent_y) << "</text>";
  }
  const std::vector<double> xt = XTicks(f, o);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 0;
  for (double v : xt) {
    const double x = f.X(v);
    s << "<line x1=\"" << F(x) << "\" x2=\"" << F(x) << "\" y1=\"" << F(bx) << "\" y2=\"" << F(bx + 4)
      << "\" stroke=\"#868e96\"/><text x=\"" << F(x) << "\" y=\"" << F(bx + 15)
      << "\" text-anchor=\"middle\">"
      << HtmlEscape(o.time_x ? TimeLabel(v, f.x1 - f.x0) : TickLabel(v, xstep, false)) << "</text>";
  }
  s << AxisLines(f, o);
  return s.str();
}

std::string Legend(const std::vector<Series>& series, const Frame& f) {
  std::ostringstream s;
  double x = f.left + 8;
  for (const auto& se : series) {
    if (se.name.empty()) continue;
    s << "<line x1=\"" << F(x) << "\" x2=\"" << F(x + 16) << "\" y1=\"" << F(f.top - 10) << "\" y2=\""
      << F(f.top - 10) << "\" stroke=\"" << se.color << "\" stroke-width=\"2\""
      << (se.dashed ? " stroke-dasharray=\"4 3\"" : "") << "/><text x=\"" << F(x + 20) << "\" y=\""
      << F(f.top - 7) << "\" font-size=\"10\">" << HtmlEscape(se.name) << "</text>";
    x += 28 + 6.0 * static_cast<double>(se.name.size());
  }
  return s.str();
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int n) {
  std::vector<double> out;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || n < 1) return out;
  const double raw = (hi - lo) / n, p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * p;
    if (step >= raw) break;
  }
  // Multiples of the step, computed (not accumulated) so that 2 stays 2.
  const double first = std::ceil(lo / step - 1e-9);
  for (double k = first; k * step <= hi + step * 1e-9; k += 1) {
    const double v = k * step;
    out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : std::round(v / step) * step);
  }
  return out;
}

std::string LineChart(const std::vector<Series>& series, const ChartOptions& o) {
  const double inf = std::numeric_limits<double>::infinity();
  double x0 = inf, x1 = -inf, y0 = inf, y1 = -inf;
  auto usable = [&](double y) { return std::isfinite(y) && (!o.log_y || y > 0); };
  for (const auto& se : series) {
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.x[i]) || !usable(se.y[i])) continue;
      const double y = o.log_y ? std::log10(se.y[i]) : se.y[i];
      x0 = std::min(x0, se.x[i]), x1 = std::max(x1, se.x[i]);
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  for (const auto& [v, label] : o.hlines) {
    if (usable(v))
      y0 = std::min(y0, o.log_y ? std::log10(v) : v), y1 = std::max(y1, o.log_y ? std::log10(v) : v);
  }
  if (std::isfinite(o.y_max) && x0 <= x1) y1 = std::max(y1, o.log_y ? std::log10(o.y_max) : o.y_max);
  if (x0 <= x1) {  // marks widen the x range (only when there are points)
    for (const auto& [v, label] : o.vmarks) {
      if (std::isfinite(v)) x0 = std::min(x0, v), x1 = std::max(x1, v);
    }
  }
  std::ostringstream s;
  s << Header(o);
  if (!(x0 <= x1)) {
    s << "<text x=\"" << o.width / 2 << "\" y=\"" << o.height / 2
      << "\" text-anchor=\"middle\" font-size=\"12\" fill=\"#868e96\">no data</text></svg>";
    return s.str();
  }
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  const double pad = y1 > y0 ? (y1 - y0) * 0.06 : 0.5;
  if (o.log_y) {
    y0 = std::floor(y0 - 0.02), y1 = std::ceil(y1 + 0.02);
  } else {
    y0 = y0 >= 0 && y0 - pad < 0 ? 0 : y0 - pad;
    y1 += pad;
  }
  const Frame f(x0, x1, y0, y1, o, o.log_y);
  s << Axes(f, o);
  for (const auto& [v, label] : o.hlines) {
    if (!usable(v)) continue;
    s << "<line x1=\"" << F(f.left) << "\" x2=\"" << F(f.w - f.right) << "\" y1=\"" << F(f.Y(v)) << "\" y2=\""
      << F(f.Y(v)) << "\" stroke=\"#e8590c\" stroke-dasharray=\"5 4\"/><text x=\"" << F(f.w - f.right - 2)
      << "\" y=\"" << F(f.Y(v) - 4) << "\" text-anchor=\"end\" font-size=\"10\" fill=\"#e8590c\">"
      << HtmlEscape(label) << "</text>";
  }
  for (const auto& [v, label] : o.vmarks) {
    if (!(v >= x0 && v <= x1)) continue;
    const bool near_right = f.X(v) > f.w - f.right - 70;  // the label goes to the mark's left
    s << "<line x1=\"" << F(f.X(v)) << "\" x2=\"" << F(f.X(v)) << "\" y1=\"" << F(f.top) << "\" y2=\""
      << F(f.h - f.bottom) << "\" stroke=\"#7048e8\" stroke-width=\"1.5\"/><text x=\""
      << F(near_right ? f.X(v) - 3 : f.X(v) + 3) << "\" y=\"" << F(f.top + 20)
      << "\" font-size=\"10\" fill=\"#7048e8\"" << (near_right ? " text-anchor=\"end\"" : "") << ">"
      << HtmlEscape(label) << "</text>";
  }
  for (const auto& se : series) {
    std::string path;
    bool pen = false;
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.x[i]) || !usable(se.y[i])) {
        pen = false;
        continue;
      }
      path += (pen ? " L" : " M") + F(f.X(se.x[i])) + " " + F(f.Y(se.y[i]));
      pen = true;
      if (se.points)
        s << "<circle cx=\"" << F(f.X(se.x[i])) << "\" cy=\"" << F(f.Y(se.y[i])) << "\" r=\"2.5\" fill=\""
          << se.color << "\"/>";
    }
    if (!path.empty())
      s << "<path d=\"" << path.substr(1) << "\" fill=\"none\" stroke=\"" << se.color
        << "\" stroke-width=\"2\"" << (se.dashed ? " stroke-dasharray=\"5 4\"" : "") << "/>";
  }
  s << Legend(series, f) << "</svg>";
  return s.str();
}

std::string BinChart(const std::vector<double>& edges, const std::vector<double>& ref_share,
                     const std::vector<double>& cur_share, bool drifted, const ChartOptions& o) {
  const size_t n = std::min(ref_share.size(), cur_share.size());
  double top = 0;
  for (size_t k = 0; k < n; ++k) top = std::max({top, ref_share[k], cur_share[k]});
  if (!(top > 0)) top = 1;
  const Frame f(0, static_cast<double>(std::max<size_t>(n, 1)), 0, top * 1.1, o, false);
  std::ostringstream s;
  s << Header(o) << "<g font-size=\"10\" fill=\"#495057\">";
  for (double v : NiceTicks(0, top * 1.1, 4)) {
    s << "<line x1=\"" << F(f.left) << "\" x2=\"" << F(f.w - f.right) << "\" y1=\"" << F(f.Y(v)) << "\" y2=\""
      << F(f.Y(v)) << "\" stroke=\"#e9ecef\"/><text x=\"" << F(f.left - 6) << "\" y=\"" << F(f.Y(v) + 3)
      << "\" text-anchor=\"end\">" << Percent(v) << "</text>";
  }
  const bool labelled = edges.size() + 1 == n;
  const double bw = (f.X(1) - f.X(0));
  for (size_t k = 0; k < n; ++k) {
    const double x = f.X(static_cast<double>(k)), base = f.Y(0);
    s << "<rect x=\"" << F(x + bw * 0.1) << "\" y=\"" << F(f.Y(ref_share[k])) << "\" width=\"" << F(bw * 0.4)
      << "\" height=\"" << F(base - f.Y(ref_share[k])) << "\" fill=\"#adb5bd\"><title>reference "
      << Percent(ref_share[k]) << "</title></rect>";
    s << "<rect x=\"" << F(x + bw * 0.5) << "\" y=\"" << F(f.Y(cur_share[k])) << "\" width=\"" << F(bw * 0.4)
      << "\" height=\"" << F(base - f.Y(cur_share[k])) << "\" fill=\"" << (drifted ? "#e8590c" : "#1c7ed6")
      << "\"><title>current " << Percent(cur_share[k]) << "</title></rect>";
    if (labelled && k + 1 < n) {
      s << "<text x=\"" << F(x + bw) << "\" y=\"" << F(base + 14) << "\" text-anchor=\"middle\">"
        << HtmlEscape(Sig3(edges[k])) << "</text>";
    } else if (!labelled) {
      s << "<text x=\"" << F(x + bw / 2) << "\" y=\"" << F(base + 14) << "\" text-anchor=\"middle\">" << k + 1
        << "</text>";
    }
  }
  s << AxisLines(f, o);
  std::vector<Series> legend = {{"reference", {}, {}, "#adb5bd"},
                                {"current", {}, {}, drifted ? "#e8590c" : "#1c7ed6"}};
  s << Legend(legend, f) << "</svg>";
  return s.str();
}

std::string Sparkline(const std::vector<double>& ref_share, const std::vector<double>& cur_share,
                      bool drifted) {
  const size_t n = std::min(ref_share.size(), cur_share.size());
  const double w = 120, h = 28;
  double top = 0;
  for (size_t k = 0; k < n; ++k) top = std::max({top, ref_share[k], cur_share[k]});
  std::ostringstream s;
  s << "<svg width=\"120\" height=\"28\" role=\"img\"><title>reference "
       "(grey) and current share per bin</title>";
  if (n < 2 || !(top > 0)) return s.str() + "</svg>";
  for (int which = 0; which < 2; ++which) {
    const auto& v = which == 0 ? ref_share : cur_share;
    std::string pts;
    for (size_t k = 0; k < n; ++k)
      pts += F(2 + (w - 4) * static_cast<double>(k) / static_cast<double>(n - 1)) + "," +
             F(h - 2 - (h - 4) * v[k] / top) + " ";
    s << "<polyline points=\"" << pts << "\" fill=\"none\" stroke=\""
      << (which == 0 ? "#adb5bd"
          : drifted  ? "#e8590c"
                     : "#1c7ed6")
      << "\" stroke-width=\"1.6\"/>";
  }
  s << "</svg>";
  return s.str();
}

}  // namespace driftrun
