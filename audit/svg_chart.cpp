#include "audit/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

namespace advtk {
namespace {

constexpr double kWidth = 640, kHeight = 300;
constexpr double kLeft = 56, kRight = 150, kTop = 34, kBottom = 46;
const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string colour(size_t i) { return kColours[i % (sizeof(kColours) / sizeof(kColours[0]))]; }

std::string num(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v;
  return s.str();
}

// The frame: title, axes, horizontal grid lines at y ticks (labels by `label`).
std::string frame(const std::string& title, const std::string& x_label, int y_ticks,
                  const std::function<std::string(int)>& label) {
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << kWidth << " " << kHeight
    << "\" width=\"" << kWidth << "\" height=\"" << kHeight << "\" role=\"img\" aria-label=\""
    << xml_escape(title) << "\" font-family=\"sans-serif\" font-size=\"11\">"
    << "<text x=\"" << kLeft << "\" y=\"18\" font-size=\"13\" font-weight=\"bold\">"
    << xml_escape(title) << "</text>";
  const double plot_h = kHeight - kTop - kBottom;
  for (int t = 0; t <= y_ticks; ++t) {
    const double y = kTop + plot_h * (1.0 - static_cast<double>(t) / y_ticks);
    s << "<line x1=\"" << kLeft << "\" x2=\"" << kWidth - kRight << "\" y1=\"" << y << "\" y2=\""
      << y << "\" stroke=\"#ddd\"/><text x=\"" << kLeft - 6 << "\" y=\"" << y + 4
      << "\" text-anchor=\"end\">" << xml_escape(label(t)) << "</text>";
  }
  s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft << "\" y1=\"" << kTop << "\" y2=\""
    << kHeight - kBottom << "\" stroke=\"#333\"/><line x1=\"" << kLeft << "\" x2=\""
    << kWidth - kRight << "\" y1=\"" << kHeight - kBottom << "\" y2=\"" << kHeight - kBottom
    << "\" stroke=\"#333\"/><text x=\"" << (kLeft + kWidth - kRight) / 2 << "\" y=\"" << kHeight - 8
    << "\" text-anchor=\"middle\">" << xml_escape(x_label) << "</text>";
  return s.str();
}

std::string legend(const std::vector<ChartSeries>& series) {
  std::ostringstream s;
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = kTop + 8 + 16 * static_cast<double>(i);
    s << "<rect x=\"" << kWidth - kRight + 12 << "\" y=\"" << y - 8
      << "\" width=\"10\" height=\"10\" fill=\"" << colour(i) << "\"/><text x=\""
      << kWidth - kRight + 28 << "\" y=\"" << y + 1 << "\">" << xml_escape(series[i].name)
      << "</text>";
  }
  return s.str();
}

std::string percent_label(int t) { return std::to_string(t * 20) + "%"; }

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string line_chart_svg(const std::string& title, const std::string& x_label,
                           const std::vector<ChartSeries>& series) {
  double x_max = 0;
  for (const auto& s : series)
    for (const auto& [x, y] : s.points)
      if (std::isfinite(x)) x_max = std::max(x_max, x);
  if (x_max <= 0) x_max = 1;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  const auto px = [&](double x) { return kLeft + plot_w * x / x_max; };
  const auto py = [&](double y) { return kTop + plot_h * (1.0 - std::clamp(y, 0.0, 1.0)); };
  std::ostringstream s;
  s << frame(title, x_label, 5, percent_label);
  for (int t = 0; t <= 4; ++t) {
    const double x = x_max * t / 4;
    s << "<text x=\"" << px(x) << "\" y=\"" << kHeight - kBottom + 14
      << "\" text-anchor=\"middle\">" << num(x) << "</text>";
  }
  for (size_t i = 0; i < series.size(); ++i) {
    std::ostringstream path;
    for (const auto& [x, y] : series[i].points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      path << (path.tellp() == 0 ? "M" : " L") << px(x) << "," << py(y);
    }
    s << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << colour(i)
      << "\" stroke-width=\"2\"/>";
    for (const auto& [x, y] : series[i].points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      s << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"3\" fill=\"" << colour(i)
        << "\"><title>" << xml_escape(series[i].name) << " at " << num(x) << ": " << num(100 * y)
        << "%</title></circle>";
    }
  }
  s << legend(series) << "</svg>";
  return s.str();
}

std::string bar_chart_svg(const std::string& title, const std::vector<std::string>& categories,
                          const std::vector<ChartSeries>& series) {
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  const double group = plot_w / std::max<size_t>(categories.size(), 1);
  const double bar = group * 0.8 / std::max<size_t>(series.size(), 1);
  std::ostringstream s;
  s << frame(title, "", 5, percent_label);
  for (size_t c = 0; c < categories.size(); ++c) {
    const double gx = kLeft + group * static_cast<double>(c);
    for (size_t i = 0; i < series.size(); ++i) {
      if (c >= series[i].points.size()) continue;
      const double v = series[i].points[c].second;
      if (std::isnan(v)) continue;
      const double h = plot_h * std::clamp(v, 0.0, 1.0);
      s << "<rect x=\"" << gx + group * 0.1 + bar * static_cast<double>(i) << "\" y=\""
        << kTop + plot_h - h << "\" width=\"" << bar << "\" height=\"" << h << "\" fill=\""
        << colour(i) << "\"><title>" << xml_escape(categories[c]) << ", "
        << xml_escape(series[i].name) << ": " << num(100 * v) << "%</title></rect>";
    }
    std::string name = categories[c].size() > 10 ? categories[c].substr(0, 9) + "." : categories[c];
    s << "<text x=\"" << gx + group / 2 << "\" y=\"" << kHeight - kBottom + 14
      << "\" text-anchor=\"middle\">" << xml_escape(name) << "</text>";
  }
  s << legend(series) << "</svg>";
  return s.str();
}

std::string histogram_svg(const std::string& title, const std::string& x_label,
                          const std::vector<double>& edges, const std::vector<double>& counts) {
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  double top = 1;
  for (double c : counts) top = std::max(top, c);
  top = 4 * std::ceil(top / 4);  // whole-number ticks
  std::ostringstream s;
  s << frame(title, x_label, 4, [&](int t) { return num(std::round(top * t / 4)); });
  if (edges.size() == counts.size() + 1 && !counts.empty()) {
    const double x0 = edges.front(), x1 = std::max(edges.back(), x0 + 1e-12);
    const auto px = [&](double x) { return kLeft + plot_w * (x - x0) / (x1 - x0); };
    for (size_t i = 0; i < counts.size(); ++i) {
      const double h = plot_h * counts[i] / top;
      s << "<rect x=\"" << px(edges[i]) << "\" y=\"" << kTop + plot_h - h << "\" width=\""
        << std::max(px(edges[i + 1]) - px(edges[i]) - 1, 0.5) << "\" height=\"" << h << "\" fill=\""
        << colour(0) << "\"><title>" << num(edges[i]) << " to " << num(edges[i + 1]) << ": "
        << num(counts[i]) << "</title></rect>";
    }
    for (int t = 0; t <= 4; ++t) {
      const double x = x0 + (x1 - x0) * t / 4;
      s << "<text x=\"" << px(x) << "\" y=\"" << kHeight - kBottom + 14
        << "\" text-anchor=\"middle\">" << num(x) << "</text>";
    }
  }
  s << "</svg>";
  return s.str();
}

}  // namespace advtk
