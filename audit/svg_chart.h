// Small, dependency-free SVG charts for the self-contained HTML report.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace advtk {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); lines join them in order
};

// Lines with markers; y is a fraction in [0, 1] drawn as a percentage.
std::string line_chart_svg(const std::string& title, const std::string& x_label,
                           const std::vector<ChartSeries>& series);

// Grouped bars per category; values are fractions in [0, 1] (NaN: no bar).
std::string bar_chart_svg(const std::string& title, const std::vector<std::string>& categories,
                          const std::vector<ChartSeries>& series);

// A histogram from bin edges (counts.size() + 1 of them) and counts.
std::string histogram_svg(const std::string& title, const std::string& x_label,
                          const std::vector<double>& edges, const std::vector<double>& counts);

// Escapes &, <, >, " and ' for XML text and attributes.
std::string xml_escape(const std::string& text);

}  // namespace advtk
